// Package s3 is the backend for Amazon S3 and S3-compatible servers
// (versitygw, MinIO, Ceph RGW and the like). Large objects go up as
// multipart uploads through the SDK's transfer manager, which aborts the
// upload when it fails, so a reader never sees a partial object; reads are
// ranged GETs and listings are paginated. Credentials come from the AWS
// SDK's default chain (AWS_ACCESS_KEY_ID and friends, profiles, roles) and
// never appear in errors or logs.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	awsretry "github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/logging"

	"github.com/backupbot/backupbot/storage/backend"
)

// Defaults for Options fields left zero.
const (
	DefaultRegion      = "us-east-1"
	DefaultPartSize    = 8 << 20  // bytes per multipart part
	DefaultMultipartAt = 32 << 20 // objects this large or larger go up in parts (repository packs are 16 MiB: one PUT each)
	DefaultConcurrency = 4        // parts in flight per object
)

// Options locate a bucket and say how to write to it.
type Options struct {
	// Bucket is required. Prefix, if set, is put before every key ("team-a"
	// stores "config" as "team-a/config").
	Bucket string
	Prefix string
	// Region defaults to the SDK's configured region, else us-east-1.
	Region string
	// Endpoint overrides the service address (S3-compatible servers).
	Endpoint string
	// PathStyle addresses the bucket in the path, not the host name, as
	// most S3-compatible servers need. It is implied when Endpoint is an
	// IP address or localhost, where host-name addressing cannot work.
	PathStyle bool
	// StorageClass ("STANDARD_IA", "GLACIER_IR", ...) applies to new objects.
	StorageClass string
	// SSE is "", "AES256" or "aws:kms"; SSEKMSKeyID names the KMS key for
	// "aws:kms" (empty means the bucket's default key).
	SSE         string
	SSEKMSKeyID string
	// CreateBucket creates the bucket in New when it does not exist.
	CreateBucket bool
	// Credentials replaces the SDK's default credential chain (tests, or
	// callers that hold credentials of their own). Nil means the default.
	Credentials aws.CredentialsProvider
	// PartSize, MultipartThreshold and Concurrency tune uploads; zero
	// takes the defaults above.
	PartSize           int64
	MultipartThreshold int64
	Concurrency        int
}

// Backend stores objects in one S3 bucket under an optional prefix.
type Backend struct {
	client   *s3sdk.Client
	uploader *transfermanager.Client
	opts     Options
	bucket   backend.Bucket
}

// New checks the options and builds a client. It makes no request unless
// CreateBucket is set, in which case it creates a missing bucket.
func New(ctx context.Context, opts Options) (*Backend, error) {
	if opts.Bucket == "" {
		return nil, fmt.Errorf("s3 storage: no bucket given: set the storage's bucket in the configuration or pass --bucket: %w", backend.ErrPermanent)
	}
	switch opts.SSE {
	case "", string(types.ServerSideEncryptionAes256), string(types.ServerSideEncryptionAwsKms), string(types.ServerSideEncryptionAwsKmsDsse):
	default:
		return nil, fmt.Errorf("s3 storage %s: sse %q is not one of AES256, aws:kms, aws:kms:dsse: %w", opts.Bucket, opts.SSE, backend.ErrPermanent)
	}
	if opts.SSEKMSKeyID != "" && !strings.HasPrefix(opts.SSE, "aws:kms") {
		return nil, fmt.Errorf("s3 storage %s: sse_kms_key_id needs sse: aws:kms: %w", opts.Bucket, backend.ErrPermanent)
	}
	opts.PartSize = backend.PositiveOr(opts.PartSize, DefaultPartSize)
	opts.MultipartThreshold = backend.PositiveOr(opts.MultipartThreshold, DefaultMultipartAt)
	opts.Concurrency = backend.PositiveOr(opts.Concurrency, DefaultConcurrency)
	if opts.Endpoint != "" {
		u, err := url.Parse(opts.Endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("s3 storage %s: endpoint %q is not an http(s):// address: %w", opts.Bucket, opts.Endpoint, backend.ErrPermanent)
		}
		if h := u.Hostname(); h == "localhost" || net.ParseIP(h) != nil {
			opts.PathStyle = true
		}
	}

	loadOpts := []func(*awsconfig.LoadOptions) error{
		// Ask for checksums only where the API requires them: S3-compatible
		// servers differ in which flexible checksums they accept, and the
		// repository verifies every blob by its own hash anyway.
		awsconfig.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		awsconfig.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
		awsconfig.WithRetryer(func() aws.Retryer {
			// A few quick tries inside the SDK; storage/retry adds the
			// longer backoff around whole calls. No retry quota: a bad
			// patch of network must not turn into "retry quota exceeded".
			return awsretry.NewStandard(func(o *awsretry.StandardOptions) {
				o.MaxAttempts = 3
				o.MaxBackoff = 2 * time.Second
				o.RateLimiter = ratelimit.None
			})
		}),
	}
	if opts.Region != "" {
		loadOpts = append(loadOpts, awsconfig.WithRegion(opts.Region))
	}
	if opts.Credentials != nil {
		loadOpts = append(loadOpts, awsconfig.WithCredentialsProvider(opts.Credentials))
	}
	// The SDK's own notes (a response body it could not drain, a clock
	// skew) go to slog at debug level instead of straight to stderr.
	loadOpts = append(loadOpts, awsconfig.WithLogger(logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		slog.Debug("aws sdk: "+fmt.Sprintf(format, v...), "class", string(c), "bucket", opts.Bucket)
	})))
	// A connection that delivers nothing for a minute is dead; a slow one
	// that keeps delivering is left alone.
	loadOpts = append(loadOpts, awsconfig.WithHTTPClient(awshttp.NewBuildableClient().WithReadTimeout(time.Minute)))
	cfg, err := awsconfig.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("s3 storage %s: loading the AWS configuration (AWS_* variables, ~/.aws files): %w: %w", opts.Bucket, err, backend.ErrPermanent)
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	client := s3sdk.NewFromConfig(cfg, func(o *s3sdk.Options) {
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
		o.UsePathStyle = opts.PathStyle
	})
	b := &Backend{
		client: client,
		uploader: transfermanager.New(client, func(o *transfermanager.Options) {
			o.PartSizeBytes = opts.PartSize
			o.MultipartUploadThreshold = opts.MultipartThreshold
			o.Concurrency = opts.Concurrency
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			// Abort a failed multipart upload even when ctx is what failed.
			o.FailTimeout = 30 * time.Second
		}),
		opts:   opts,
		bucket: backend.NewBucket("s3", opts.Bucket, opts.Prefix),
	}
	if opts.CreateBucket {
		if err := b.ensureBucket(ctx); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// ensureBucket creates the bucket unless it exists.
func (b *Backend) ensureBucket(ctx context.Context) error {
	_, err := b.client.HeadBucket(ctx, &s3sdk.HeadBucketInput{Bucket: aws.String(b.opts.Bucket)})
	if err == nil {
		return nil
	}
	if !isNotFound(err) {
		return b.wrap("check bucket", "", err)
	}
	in := &s3sdk.CreateBucketInput{Bucket: aws.String(b.opts.Bucket)}
	if r := b.client.Options().Region; r != DefaultRegion {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(r)}
	}
	_, err = b.client.CreateBucket(ctx, in)
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return b.wrap("create bucket", "", err)
	}
	return nil
}

// Location implements backend.Backend.
func (b *Backend) Location() string { return b.bucket.Location() }

// Bucket returns the bucket name.
func (b *Backend) Bucket() string { return b.opts.Bucket }

// Create implements backend.Creator with a conditional PUT
// (If-None-Match: *): the server refuses it with 412 when the key exists.
func (b *Backend) Create(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
	name, n, err := b.bucket.Upload("create", key, body, -1)
	if err != nil {
		return err
	}
	in := b.putInput(name, body, n)
	// The config is read by every command: it keeps the default storage
	// class whatever the bucket's setting for packs is.
	in.StorageClass = ""
	in.IfNoneMatch = aws.String("*")
	if _, err := b.client.PutObject(ctx, in); err != nil {
		if code := errorCode(err); code == "PreconditionFailed" || code == "ConditionalRequestConflict" ||
			httpStatus(err) == http.StatusPreconditionFailed {
			return fmt.Errorf("%s: %w", b.bucket.Op("create", key), backend.ErrExists)
		}
		return b.wrap("create", key, err)
	}
	return nil
}

// Put implements backend.Backend. Objects smaller than MultipartThreshold
// go up in one PUT; larger ones in parts: read straight from the body when
// it is an io.ReaderAt (a file: no part buffers), else through the
// transfer manager. A failed multipart upload is aborted, so no partial
// object is ever visible either way.
func (b *Backend) Put(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
	name, n, err := b.bucket.Upload("put", key, body, size)
	if err != nil {
		return err
	}
	if n < b.opts.MultipartThreshold {
		// One PUT straight from the caller's seekable body: no copy, and
		// the SDK rewinds it itself to sign it or to retry.
		if _, err := b.client.PutObject(ctx, b.putInput(name, body, n)); err != nil {
			return b.wrapWrite("put", key, err)
		}
		return nil
	}
	if ra, ok := body.(io.ReaderAt); ok {
		// A file (an export): parts straight from it, no part buffers.
		if err := b.putSections(ctx, name, ra, n); err != nil {
			return b.wrapWrite("put", key, err)
		}
		return nil
	}
	in := &transfermanager.UploadObjectInput{
		Bucket:               aws.String(b.opts.Bucket),
		Key:                  aws.String(name),
		Body:                 body,
		ContentLength:        aws.Int64(n),
		StorageClass:         tmtypes.StorageClass(b.opts.StorageClass),
		ServerSideEncryption: tmtypes.ServerSideEncryption(b.opts.SSE),
		SSEKMSKeyID:          b.kmsKeyID(),
	}
	if _, err := b.uploader.UploadObject(ctx, in); err != nil {
		return b.wrapWrite("put", key, err)
	}
	return nil
}

// putInput is the PutObject request for body (n bytes) under name, with
// the bucket's storage class and server-side encryption settings. (The
// SDK sends no header for a setting left empty.)
func (b *Backend) putInput(name string, body io.Reader, n int64) *s3sdk.PutObjectInput {
	return &s3sdk.PutObjectInput{
		Bucket:               aws.String(b.opts.Bucket),
		Key:                  aws.String(name),
		Body:                 body,
		ContentLength:        aws.Int64(n),
		StorageClass:         types.StorageClass(b.opts.StorageClass),
		ServerSideEncryption: types.ServerSideEncryption(b.opts.SSE),
		SSEKMSKeyId:          b.kmsKeyID(),
	}
}

// kmsKeyID is the KMS key every upload names, nil for none.
func (b *Backend) kmsKeyID() *string {
	if b.opts.SSEKMSKeyID == "" {
		return nil
	}
	return aws.String(b.opts.SSEKMSKeyID)
}

// Get implements backend.Backend.
func (b *Backend) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	name, err := b.bucket.Object(key)
	if err != nil {
		return nil, err
	}
	return backend.GetRange(ctx, b.bucket.Where(), key, offset, length, b.Stat, func() (io.ReadCloser, int64, error) {
		in := &s3sdk.GetObjectInput{Bucket: aws.String(b.opts.Bucket), Key: aws.String(name)}
		switch {
		case length > 0:
			in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))
		case offset > 0:
			in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
		}
		out, err := b.client.GetObject(ctx, in)
		switch {
		case err != nil && isInvalidRange(err):
			return nil, 0, backend.ErrRangeNotSatisfiable
		case err != nil:
			return nil, 0, b.wrap("get", key, err)
		}
		return out.Body, aws.ToInt64(out.ContentLength), nil
	})
}

// Stat implements backend.Backend.
func (b *Backend) Stat(ctx context.Context, key string) (backend.Info, error) {
	name, err := b.bucket.Object(key)
	if err != nil {
		return backend.Info{}, err
	}
	out, err := b.client.HeadObject(ctx, &s3sdk.HeadObjectInput{Bucket: aws.String(b.opts.Bucket), Key: aws.String(name)})
	if err != nil {
		return backend.Info{}, b.wrap("stat", key, err)
	}
	return backend.Info{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

// List implements backend.Backend with a flat, paginated listing.
func (b *Backend) List(ctx context.Context, prefix string, fn func(backend.Info) error) error {
	p := s3sdk.NewListObjectsV2Paginator(b.client, &s3sdk.ListObjectsV2Input{
		Bucket: aws.String(b.opts.Bucket),
		Prefix: aws.String(b.bucket.Prefix() + prefix),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return b.wrap("list", prefix, err)
		}
		for _, obj := range page.Contents {
			key := b.bucket.Key(aws.ToString(obj.Key))
			if key == "" || strings.HasSuffix(key, "/") {
				continue // directory markers some servers and tools create
			}
			if err := fn(backend.Info{Key: key, Size: aws.ToInt64(obj.Size), ModTime: aws.ToTime(obj.LastModified)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete implements backend.Backend. S3 deletes of missing keys succeed,
// so Delete looks first to report ErrNotFound as the contract says.
func (b *Backend) Delete(ctx context.Context, key string) error {
	if _, err := b.Stat(ctx, key); err != nil {
		return err
	}
	name, _ := b.bucket.Object(key) // a valid key: Stat has checked it
	if _, err := b.client.DeleteObject(ctx, &s3sdk.DeleteObjectInput{Bucket: aws.String(b.opts.Bucket), Key: aws.String(name)}); err != nil {
		return b.wrap("delete", key, err)
	}
	return nil
}

// Close implements backend.Backend; the SDK's idle connections are
// released when the client is garbage collected.
func (b *Backend) Close() error { return nil }
