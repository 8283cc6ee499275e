package s3_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/backend/backendtest"
	"github.com/backupbot/backupbot/storage/engine/enginetest"
	"github.com/backupbot/backupbot/storage/retry"
	"github.com/backupbot/backupbot/storage/s3"
	"github.com/backupbot/backupbot/storage/s3/s3test"
)

func open(t *testing.T, opts s3.Options) *s3.Backend {
	t.Helper()
	return s3test.New(t, opts)
}

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		// Small parts so the 9 MiB object and the cancelled 6 MiB upload
		// take the multipart path.
		return open(t, s3.Options{Prefix: "repo/one", PartSize: 5 << 20, MultipartThreshold: 5 << 20})
	})
}

func TestConformanceSinglePut(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		return open(t, s3.Options{})
	})
}

func TestPrefixKeepsRepositoriesApart(t *testing.T) {
	bucket := s3test.UniqueBucket(t)
	a := open(t, s3.Options{Bucket: bucket, Prefix: "team-a/"})
	other, err := s3.New(context.Background(), s3test.Env(t).Options(s3.Options{Bucket: bucket, Prefix: "team-b"}))
	if err != nil {
		t.Fatal(err)
	}
	backendtest.PrefixesKeepApart(t, a, other, "s3:"+bucket+"/team-a")
}

func TestMultipartUploadOfManyParts(t *testing.T) {
	b := open(t, s3.Options{PartSize: 5 << 20, MultipartThreshold: 5 << 20, Concurrency: 3})
	backendtest.RoundTrip(t, b, "data/aa/pack", 23<<20+7, "a 23 MiB object uploaded in 5 MiB parts")
}

func TestStorageClassAndEncryptionAreSent(t *testing.T) {
	// versitygw stores STANDARD objects and accepts the AES256 header;
	// the point is that a configured class and SSE do not break writes.
	b := open(t, s3.Options{StorageClass: "STANDARD", SSE: "AES256"})
	ctx := context.Background()
	if err := b.Put(ctx, "keys/k", strings.NewReader("key"), 3); err != nil {
		t.Fatalf("Put with storage class and SSE: %v", err)
	}
	if info, err := b.Stat(ctx, "keys/k"); err != nil || info.Size != 3 {
		t.Fatalf("Stat = %+v, %v", info, err)
	}
}

func TestOptionsAreChecked(t *testing.T) {
	cases := map[string]s3.Options{
		"no bucket":      {},
		"unknown sse":    {Bucket: "b", SSE: "rot13"},
		"kms key no kms": {Bucket: "b", SSE: "AES256", SSEKMSKeyID: "k"},
	}
	for name, opts := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := s3.New(context.Background(), opts); !errors.Is(err, backend.ErrPermanent) {
				t.Fatalf("New(%+v) = %v; want a permanent error", opts, err)
			}
		})
	}
}

func TestErrorsSayWhatToFix(t *testing.T) {
	srv := s3test.Env(t)
	ctx := context.Background()
	good := open(t, s3.Options{})
	mustNew := func(opts s3.Options) *s3.Backend {
		t.Helper()
		b, err := s3.New(ctx, srv.Options(opts))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	wrongKey := mustNew(s3.Options{Bucket: good.Bucket(),
		Credentials: credentials.NewStaticCredentialsProvider(srv.AccessKey, "not-the-secret-xyz", "")})
	unknownUser := mustNew(s3.Options{Bucket: good.Bucket(),
		Credentials: credentials.NewStaticCredentialsProvider("nobody-by-this-name", "not-the-secret-xyz", "")})
	missing := mustNew(s3.Options{Bucket: "bbt-no-such-bucket-here"})
	cases := []struct {
		name     string
		b        *s3.Backend
		sentinel error
		mentions []string
	}{
		{"wrong secret", wrongKey, backend.ErrCredentials, []string{"denied", "AWS_SECRET_ACCESS_KEY", good.Bucket()}},
		{"unknown access key", unknownUser, backend.ErrCredentials, []string{"denied", "AWS_ACCESS_KEY_ID"}},
		{"missing bucket", missing, backend.ErrNoContainer, []string{"does not exist", "bbt-no-such-bucket-here", "bucket name"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.b.Put(ctx, "locks/probe", strings.NewReader("x"), 1)
			if !errors.Is(err, c.sentinel) || !errors.Is(err, backend.ErrPermanent) {
				t.Fatalf("Put: %v; want an error wrapping %v and ErrPermanent", err, c.sentinel)
			}
			for _, m := range c.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			if strings.Contains(err.Error(), "not-the-secret-xyz") || strings.Contains(err.Error(), srv.SecretKey) {
				t.Errorf("error %q shows a secret", err)
			}
			listErr := c.b.List(ctx, "", func(backend.Info) error { return nil })
			if !errors.Is(listErr, c.sentinel) {
				t.Errorf("List: %v; want an error wrapping %v", listErr, c.sentinel)
			}
		})
	}
}

// TestEngineSuite runs the engine's acceptance suite unchanged with the
// repository in a bucket, behind the retry wrapper as storage.Open sets it up.
func TestEngineSuite(t *testing.T) {
	enginetest.Run(t, func(t *testing.T) backend.Backend {
		return retry.New(open(t, s3.Options{Prefix: "repo"}), retry.Options{})
	})
}

// TestDamageSuite runs the engine's damage suite with the repository in a
// bucket, behind the retry wrapper as storage.Open sets it up.
func TestDamageSuite(t *testing.T) {
	enginetest.RunDamage(t, func(t *testing.T) backend.Backend {
		return retry.New(open(t, s3.Options{Prefix: "repo"}), retry.Options{})
	})
}
