package storage_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/backupbot/backupbot/storage"
	"github.com/backupbot/backupbot/storage/azure"
	"github.com/backupbot/backupbot/storage/azure/azuretest"
	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/backend/backendtest"
	"github.com/backupbot/backupbot/storage/retry"
	"github.com/backupbot/backupbot/storage/s3"
	"github.com/backupbot/backupbot/storage/s3/s3test"
)

// TestOpenRemoteSpecs opens S3 and Azure storages from the configuration's
// Spec, with credentials from the environment as in production, and checks
// they work and come wrapped in the retry policy.
func TestOpenRemoteSpecs(t *testing.T) {
	srv := s3test.Env(t)
	srv.SetEnv(t)
	t.Setenv(azure.ConnectionStringEnv, azuretest.ConnectionString(t))
	bucket := s3test.New(t, s3.Options{}).Bucket()
	container := azuretest.New(t, azure.Options{}).Container()
	specs := map[string]storage.Spec{
		// No path_style: an IP endpoint implies it.
		"s3":    {Type: storage.KindS3, Bucket: bucket, Region: srv.Region, Endpoint: srv.Endpoint, Prefix: "team-a"},
		"aws":   {Type: storage.KindAWS, Bucket: bucket, Region: srv.Region, Endpoint: srv.Endpoint, Prefix: "team-b", StorageClass: "STANDARD"},
		"azure": {Type: storage.KindAzure, Container: container, Prefix: "team-a", AccessTier: "Hot"},
	}
	want := map[string]string{"s3": "s3:" + bucket + "/team-a", "aws": "s3:" + bucket + "/team-b", "azure": "azure:" + container + "/team-a"}
	for name, spec := range specs {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b, err := storage.Open(ctx, spec)
			if err != nil {
				t.Fatalf("Open(%+v): %v", spec, err)
			}
			defer b.Close()
			if _, ok := b.(*retry.Backend); !ok {
				t.Errorf("Open returned %T; want it behind the retry wrapper", b)
			}
			if b.Location() != want[name] {
				t.Errorf("Location() = %q; want %q", b.Location(), want[name])
			}
			if err := b.Put(ctx, "config", bytes.NewReader([]byte("hello")), 5); err != nil {
				t.Fatal(err)
			}
			if got := backendtest.Get(t, b, "config", 1, 3); string(got) != "ell" {
				t.Fatalf("ranged read = %q; want %q", got, "ell")
			}
		})
	}
}

func TestOpenRemoteSpecWithoutBucketIsPermanent(t *testing.T) {
	for _, spec := range []storage.Spec{{Type: storage.KindS3}, {Type: storage.KindAzure}} {
		if _, err := storage.Open(context.Background(), spec); !errors.Is(err, backend.ErrPermanent) {
			t.Errorf("Open(%+v) = %v; want a permanent error naming what is missing", spec, err)
		}
	}
}
