package storage

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/backupbot/backupbot/storage/azure"
	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/local"
	"github.com/backupbot/backupbot/storage/retry"
	"github.com/backupbot/backupbot/storage/s3"
)

// Open returns the backend a Spec names. It does not touch the repository
// inside; the engine does that. Each kind is one case of the switch.
func Open(ctx context.Context, spec Spec) (backend.Backend, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch spec.Type {
	case KindLocal, KindNetwork, "":
		return local.New(spec.Path)
	case KindS3, KindAWS:
		b, err := s3.New(ctx, s3.Options{
			Bucket: spec.Bucket, Region: spec.Region, Prefix: spec.Prefix, Endpoint: spec.Endpoint, PathStyle: spec.PathStyle,
			StorageClass: spec.StorageClass, SSE: spec.SSE, SSEKMSKeyID: spec.SSEKMSID,
		})
		if err != nil {
			return nil, err
		}
		return retry.New(b, retry.Options{Logger: slog.Default()}), nil
	case KindAzure:
		b, err := azure.New(ctx, azure.Options{
			Container: spec.Container, Account: spec.Account, Prefix: spec.Prefix, Endpoint: spec.Endpoint, AccessTier: spec.AccessTier,
		})
		if err != nil {
			return nil, err
		}
		return retry.New(b, retry.Options{Logger: slog.Default()}), nil
	default:
		return nil, fmt.Errorf("storage type %q is not supported: use one of local, network, s3, aws, azure: %w", spec.Type, backend.ErrPermanent)
	}
}
