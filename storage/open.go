package storage

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/backupbot/backupbot/storage/azure"
	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/local"
	"github.com/backupbot/backupbot/storage/retry"
	"github.com/backupbot/backupbot/storage/s3"
	"github.com/backupbot/backupbot/storage/smb"
)

// Open returns the backend a Spec names. It does not touch the repository
// inside; the engine does that. Each kind is one case of the switch.
func Open(ctx context.Context, spec Spec) (backend.Backend, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch spec.Type {
	case KindLocal, KindNetwork, "":
		if spec.IsSMB() {
			return openSMB(ctx, spec)
		}
		if err := refuseForeignPath(spec); err != nil {
			return nil, err
		}
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

// openSMB opens a network storage whose path is an SMB location, with the
// password from the storage's file or the environment.
func openSMB(ctx context.Context, spec Spec) (backend.Backend, error) {
	loc, err := smb.ParseLocation(spec.Path, spec.Port)
	if err != nil {
		return nil, fmt.Errorf("network storage: %w: %w", err, backend.ErrPermanent)
	}
	pw, err := smb.Password(spec.SMBPasswordFile, os.Getenv)
	if err != nil {
		return nil, err
	}
	b, err := smb.New(ctx, smb.Options{Location: loc, User: spec.User, Password: pw, Domain: spec.Domain})
	if err != nil {
		return nil, err
	}
	return retry.New(b, retry.Options{Logger: slog.Default()}), nil
}

// refuseForeignPath refuses, on this (non-Windows) machine, a local path
// that is really a Windows drive or a network share: it would otherwise
// become a directory literally named "D:" or "\\nas\..." here.
func refuseForeignPath(spec Spec) error {
	kind := spec.Type
	if kind == "" {
		kind = KindLocal
	}
	switch {
	case smb.IsSMBPath(spec.Path):
		return fmt.Errorf("%s storage: '%s' is a network share, which a %s storage cannot reach; configure it as a network storage (type: network, path: smb://host/share/dir or \\\\host\\share\\dir, user: and the password in %s) or mount the share and give the mount point: %w",
			kind, spec.Path, kind, smb.EnvPassword, backend.ErrPermanent)
	case smb.IsDriveLetterPath(spec.Path):
		return fmt.Errorf("%s storage: '%s' is a Windows drive path, which names nothing on this machine; give a directory here (such as /mnt/backups) or an SMB location (smb://host/share/dir): %w",
			kind, spec.Path, backend.ErrPermanent)
	}
	return nil
}
