// Package s3test gives tests a backend on the test-owned S3 server that
// `make test` starts (scripts/services/s3.sh): each call makes a new,
// uniquely named bucket and removes it with its contents when the test ends.
package s3test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/backupbot/backupbot/storage/backend/backendtest"
	"github.com/backupbot/backupbot/storage/s3"
)

// Server is the address and test credentials of the test S3 server.
type Server struct {
	Endpoint, AccessKey, SecretKey, Region string
}

// Env reads the server from BACKUPBOT_TEST_S3_*; it fails the test with
// instructions when they are unset.
func Env(t testing.TB) Server {
	t.Helper()
	s := Server{
		Endpoint:  os.Getenv("BACKUPBOT_TEST_S3_ENDPOINT"),
		AccessKey: os.Getenv("BACKUPBOT_TEST_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("BACKUPBOT_TEST_S3_SECRET_KEY"),
		Region:    os.Getenv("BACKUPBOT_TEST_S3_REGION"),
	}
	if s.Endpoint == "" || s.AccessKey == "" || s.SecretKey == "" {
		t.Fatal("BACKUPBOT_TEST_S3_ENDPOINT (and _ACCESS_KEY, _SECRET_KEY) are unset: run `make test`, which starts a test-owned S3 server " +
			"(or run `eval \"$(bash scripts/services/s3.sh start)\"` first)")
	}
	if s.Region == "" {
		s.Region = s3.DefaultRegion
	}
	return s
}

// Credentials returns the server's test credentials as an SDK provider.
func (s Server) Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, "")
}

// Options fills in the server's endpoint, region, path style and
// credentials (unless opts has its own) around opts.
func (s Server) Options(opts s3.Options) s3.Options {
	if opts.Endpoint == "" {
		opts.Endpoint = s.Endpoint
	}
	opts.Region = s.Region
	opts.PathStyle = true
	if opts.Credentials == nil {
		opts.Credentials = s.Credentials()
	}
	return opts
}

// SetEnv points the AWS SDK's default credential chain at the server's
// test credentials for the rest of the test, as the environment does in
// production, and hides the machine's own AWS files from it.
func (s Server) SetEnv(t testing.TB) {
	t.Setenv("AWS_ACCESS_KEY_ID", s.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s.SecretKey)
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
}

// UniqueBucket returns a fresh bucket name.
func UniqueBucket(t testing.TB) string { return backendtest.UniqueName() }

// New opens a backend on a new bucket (opts.Bucket, else a unique name)
// that is emptied and deleted when the test ends.
func New(t testing.TB, opts s3.Options) *s3.Backend {
	t.Helper()
	srv := Env(t)
	if opts.Bucket == "" {
		opts.Bucket = UniqueBucket(t)
	}
	opts = srv.Options(opts)
	opts.CreateBucket = true
	b, err := s3.New(context.Background(), opts)
	if err != nil {
		t.Fatalf("s3.New on the test server: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.RemoveBucket(context.Background(), opts.Bucket); err != nil {
			t.Errorf("removing test bucket %s: %v", opts.Bucket, err)
		}
	})
	return b
}

// RemoveBucket deletes every object (and unfinished multipart upload) in
// bucket and then the bucket itself.
func (s Server) RemoveBucket(ctx context.Context, bucket string) error {
	c := s3sdk.New(s3sdk.Options{
		BaseEndpoint: aws.String(s.Endpoint), Region: s.Region, UsePathStyle: true, Credentials: s.Credentials(),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
	})
	uploads, err := c.ListMultipartUploads(ctx, &s3sdk.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err == nil {
		for _, u := range uploads.Uploads {
			_, _ = c.AbortMultipartUpload(ctx, &s3sdk.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: u.Key, UploadId: u.UploadId})
		}
	}
	p := s3sdk.NewListObjectsV2Paginator(c, &s3sdk.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			var nb *types.NoSuchBucket
			if errors.As(err, &nb) {
				return nil
			}
			return err
		}
		for _, o := range page.Contents {
			if _, err := c.DeleteObject(ctx, &s3sdk.DeleteObjectInput{Bucket: aws.String(bucket), Key: o.Key}); err != nil {
				return err
			}
		}
	}
	_, err = c.DeleteBucket(ctx, &s3sdk.DeleteBucketInput{Bucket: aws.String(bucket)})
	return err
}
