// Package azure is the backend for Azure Blob Storage (and the Azurite
// emulator). Objects are block blobs: small ones go up in one Put Blob,
// large ones as staged blocks committed in one step, so a reader never sees
// a partial object. Reads are ranged downloads and listings are flat and
// paginated. Credentials come from AZURE_STORAGE_CONNECTION_STRING when it
// is set, else from the Azure SDK's default credential chain (environment,
// workload or managed identity, Azure CLI); they never appear in errors.
package azure

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/backupbot/backupbot/storage/backend"
)

// ConnectionStringEnv is the variable New reads a connection string from.
const ConnectionStringEnv = "AZURE_STORAGE_CONNECTION_STRING"

// Defaults for Options fields left zero.
const (
	DefaultBlockSize   = 8 << 20 // bytes per staged block; objects up to this size go up in one request
	DefaultConcurrency = 4       // blocks in flight per object
)

// Options locate a container and say how to write to it.
type Options struct {
	// Container is required. Prefix, if set, is put before every key.
	Container string
	Prefix    string
	// Account names the storage account when no connection string is
	// used; the service address is then https://ACCOUNT.blob.core.windows.net/
	// unless Endpoint gives another.
	Account  string
	Endpoint string
	// AccessTier ("Hot", "Cool", "Cold", "Archive") applies to new blobs.
	AccessTier string
	// CreateContainer creates the container in New when it does not exist.
	CreateContainer bool
	// ConnectionString overrides $AZURE_STORAGE_CONNECTION_STRING (tests).
	ConnectionString string
	// Credential replaces the SDK's default credential chain; used only
	// without a connection string.
	Credential azcore.TokenCredential
	// BlockSize and Concurrency tune uploads; zero takes the defaults.
	BlockSize   int64
	Concurrency int
}

// Backend stores objects as block blobs in one container.
type Backend struct {
	container *container.Client
	opts      Options
	bucket    backend.Bucket
	tier      *blob.AccessTier
}

// New checks the options and builds a client. It makes no request unless
// CreateContainer is set, in which case it creates a missing container.
func New(ctx context.Context, opts Options) (*Backend, error) {
	if opts.Container == "" {
		return nil, fmt.Errorf("azure storage: no container given: set the storage's container in the configuration or pass --container: %w", backend.ErrPermanent)
	}
	opts.BlockSize = backend.PositiveOr(opts.BlockSize, DefaultBlockSize)
	opts.Concurrency = backend.PositiveOr(opts.Concurrency, DefaultConcurrency)
	b := &Backend{opts: opts, bucket: backend.NewBucket("azure", opts.Container, opts.Prefix)}
	if opts.AccessTier != "" {
		i := slices.IndexFunc(blob.PossibleAccessTierValues(), func(t blob.AccessTier) bool { return strings.EqualFold(string(t), opts.AccessTier) })
		if i < 0 {
			return nil, fmt.Errorf("azure storage %s: access_tier %q is not one of Hot, Cool, Cold, Archive: %w", b.Location(), opts.AccessTier, backend.ErrPermanent)
		}
		t := blob.PossibleAccessTierValues()[i]
		b.tier = &t
	}
	clientOpts := &azblob.ClientOptions{ClientOptions: policy.ClientOptions{
		// A few quick tries inside the SDK; storage/retry adds the longer
		// backoff around whole calls.
		Retry: policy.RetryOptions{MaxRetries: 2, RetryDelay: 200 * time.Millisecond, MaxRetryDelay: 2 * time.Second},
	}}
	var svc *azblob.Client
	var err error
	connStr := opts.ConnectionString
	if connStr == "" {
		connStr = os.Getenv(ConnectionStringEnv)
	}
	switch {
	case connStr != "":
		svc, err = azblob.NewClientFromConnectionString(connStr, clientOpts)
		if err != nil {
			// The SDK's message may quote the string, key included.
			return nil, fmt.Errorf("azure storage %s: the connection string (%s) is malformed: copy it again from the storage account's access keys: %w: %w",
				b.Location(), ConnectionStringEnv, backend.ErrCredentials, backend.ErrPermanent)
		}
	default:
		url := opts.Endpoint
		if url == "" {
			if opts.Account == "" {
				return nil, fmt.Errorf("azure storage %s: no credentials: set %s, or set the storage's account and sign in (AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, managed identity or az login): %w: %w",
					b.Location(), ConnectionStringEnv, backend.ErrCredentials, backend.ErrPermanent)
			}
			url = "https://" + opts.Account + ".blob.core.windows.net/"
		}
		cred := opts.Credential
		if cred == nil {
			cred, err = azidentity.NewDefaultAzureCredential(nil)
			if err != nil {
				return nil, fmt.Errorf("azure storage %s: no usable Azure credential (set %s, or AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, or use a managed identity or az login): %w: %w: %w",
					b.Location(), ConnectionStringEnv, err, backend.ErrCredentials, backend.ErrPermanent)
			}
		}
		svc, err = azblob.NewClient(url, cred, clientOpts)
		if err != nil {
			return nil, fmt.Errorf("azure storage %s: account address %s: %w: %w", b.Location(), url, err, backend.ErrPermanent)
		}
	}
	b.container = svc.ServiceClient().NewContainerClient(opts.Container)
	if opts.CreateContainer {
		_, err := b.container.Create(ctx, nil)
		if err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
			return nil, b.wrap("create container", "", err)
		}
	}
	return b, nil
}

// Location implements backend.Backend.
func (b *Backend) Location() string { return b.bucket.Location() }

// Container returns the container name.
func (b *Backend) Container() string { return b.opts.Container }

// Put implements backend.Backend. A body up to BlockSize goes up in one
// request; a larger one as blocks staged in parallel and committed at the
// end. Either way the blob appears whole or not at all.
func (b *Backend) Put(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
	name, n, err := b.bucket.Upload("put", key, body, size)
	if err != nil {
		return err
	}
	bb := b.container.NewBlockBlobClient(name)
	if n <= b.opts.BlockSize {
		_, err = bb.Upload(ctx, streaming.NopCloser(body), &blockblob.UploadOptions{Tier: b.tier})
	} else {
		_, err = bb.UploadStream(ctx, body, &blockblob.UploadStreamOptions{
			BlockSize: b.opts.BlockSize, Concurrency: b.opts.Concurrency, AccessTier: b.tier,
		})
	}
	if err != nil {
		return b.wrap("put", key, err)
	}
	return nil
}

// Create implements backend.Creator with a conditional upload
// (If-None-Match: *): the service refuses it when the blob exists.
func (b *Backend) Create(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
	name, _, err := b.bucket.Upload("create", key, body, -1)
	if err != nil {
		return err
	}
	bb := b.container.NewBlockBlobClient(name)
	anyETag := azcore.ETagAny
	_, err = bb.Upload(ctx, streaming.NopCloser(body), &blockblob.UploadOptions{
		Tier:             b.tier,
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: &anyETag}},
	})
	if bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet) || (err != nil && status(err) == http.StatusPreconditionFailed) {
		return fmt.Errorf("%s: %w", b.bucket.Op("create", key), backend.ErrExists)
	}
	if err != nil {
		return b.wrap("create", key, err)
	}
	return nil
}

// Get implements backend.Backend.
func (b *Backend) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	name, err := b.bucket.Object(key)
	if err != nil {
		return nil, err
	}
	// GetRange asks for no zero-length range: a zero Count means "to the
	// end" to the service.
	return backend.GetRange(ctx, b.bucket.Where(), key, offset, length, b.Stat, func() (io.ReadCloser, int64, error) {
		rng := blob.HTTPRange{Offset: offset}
		if length > 0 {
			rng.Count = length
		}
		resp, err := b.container.NewBlobClient(name).DownloadStream(ctx, &blob.DownloadStreamOptions{Range: rng})
		switch {
		case bloberror.HasCode(err, bloberror.InvalidRange):
			return nil, 0, backend.ErrRangeNotSatisfiable
		case err != nil:
			return nil, 0, b.wrap("get", key, err)
		case resp.ContentLength == nil:
			return resp.Body, -1, nil
		}
		return resp.Body, *resp.ContentLength, nil
	})
}

// Stat implements backend.Backend.
func (b *Backend) Stat(ctx context.Context, key string) (backend.Info, error) {
	name, err := b.bucket.Object(key)
	if err != nil {
		return backend.Info{}, err
	}
	props, err := b.container.NewBlobClient(name).GetProperties(ctx, nil)
	if err != nil {
		return backend.Info{}, b.wrap("stat", key, err)
	}
	info := backend.Info{Key: key}
	if props.ContentLength != nil {
		info.Size = *props.ContentLength
	}
	if props.LastModified != nil {
		info.ModTime = *props.LastModified
	}
	return info, nil
}

// List implements backend.Backend with a flat, paginated listing.
func (b *Backend) List(ctx context.Context, prefix string, fn func(backend.Info) error) error {
	full := b.bucket.Prefix() + prefix
	pager := b.container.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &full})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return b.wrap("list", prefix, err)
		}
		for _, item := range page.Segment.BlobItems {
			if item.Name == nil {
				continue
			}
			info := backend.Info{Key: b.bucket.Key(*item.Name)}
			if p := item.Properties; p != nil {
				if p.ContentLength != nil {
					info.Size = *p.ContentLength
				}
				if p.LastModified != nil {
					info.ModTime = *p.LastModified
				}
			}
			if err := fn(info); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete implements backend.Backend.
func (b *Backend) Delete(ctx context.Context, key string) error {
	name, err := b.bucket.Object(key)
	if err != nil {
		return err
	}
	if _, err := b.container.NewBlobClient(name).Delete(ctx, nil); err != nil {
		return b.wrap("delete", key, err)
	}
	return nil
}

// Close implements backend.Backend; the SDK's idle connections are
// released when the client is garbage collected.
func (b *Backend) Close() error { return nil }
