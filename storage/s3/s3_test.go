package s3_test

import (
	"context"
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
	backendtest.RefusesOptions(t, s3.New, map[string]s3.Options{
		"no bucket":      {},
		"unknown sse":    {Bucket: "b", SSE: "rot13"},
		"kms key no kms": {Bucket: "b", SSE: "AES256", SSEKMSKeyID: "k"},
	})
}

func TestErrorsSayWhatToFix(t *testing.T) {
	srv := s3test.Env(t)
	good := open(t, s3.Options{})
	cases := []struct {
		name     string
		opts     s3.Options
		sentinel error
		mentions []string
	}{
		{"wrong secret", s3.Options{Bucket: good.Bucket(),
			Credentials: credentials.NewStaticCredentialsProvider(srv.AccessKey, "not-the-secret-xyz", "")},
			backend.ErrCredentials, []string{"denied", "AWS_SECRET_ACCESS_KEY", good.Bucket()}},
		{"unknown access key", s3.Options{Bucket: good.Bucket(),
			Credentials: credentials.NewStaticCredentialsProvider("nobody-by-this-name", "not-the-secret-xyz", "")},
			backend.ErrCredentials, []string{"denied", "AWS_ACCESS_KEY_ID"}},
		{"missing bucket", s3.Options{Bucket: "bbt-no-such-bucket-here"},
			backend.ErrNoContainer, []string{"does not exist", "bbt-no-such-bucket-here", "bucket name"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := backendtest.Open(t, s3.New, srv.Options(c.opts))
			backendtest.RefusedAsPermanent(t, b, c.sentinel, c.mentions, []string{"not-the-secret-xyz", srv.SecretKey})
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
