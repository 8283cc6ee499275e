package faultproxy_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backupbot/backupbot/storage/azure"
	"github.com/backupbot/backupbot/storage/azure/azuretest"
	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/engine"
	"github.com/backupbot/backupbot/storage/faultproxy"
	"github.com/backupbot/backupbot/storage/retry"
	"github.com/backupbot/backupbot/storage/s3"
	"github.com/backupbot/backupbot/storage/s3/s3test"
)

// remote is one real server reached through a fault proxy.
type remote struct {
	name string
	// open returns a backend that talks to the server through proxyURL,
	// on a fresh bucket or container.
	open func(t *testing.T, proxyURL string) backend.Backend
	// target is the server's own address.
	target func(t *testing.T) string
}

var remotes = []remote{
	{
		name:   "s3",
		target: func(t *testing.T) string { return s3test.Env(t).Endpoint },
		open: func(t *testing.T, proxyURL string) backend.Backend {
			// Create the bucket directly, then talk to it through the proxy.
			direct := s3test.New(t, s3.Options{})
			// Multipart from 8 MiB, so packs go up in parts and the faults
			// hit part uploads, completions and aborts too.
			b, err := s3.New(context.Background(), s3test.Env(t).Options(s3.Options{Bucket: direct.Bucket(), Endpoint: proxyURL, Prefix: "repo",
				MultipartThreshold: 8 << 20, PartSize: 5 << 20}))
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
	},
	{
		name: "azure",
		target: func(t *testing.T) string {
			cs := azuretest.ConnectionString(t)
			for _, p := range strings.Split(cs, ";") {
				if v, ok := strings.CutPrefix(p, "BlobEndpoint="); ok {
					return strings.TrimSuffix(strings.TrimSuffix(v, "/"), "/devstoreaccount1")
				}
			}
			t.Fatal("the test connection string has no BlobEndpoint")
			return ""
		},
		open: func(t *testing.T, proxyURL string) backend.Backend {
			direct := azuretest.New(t, azure.Options{})
			cs := azuretest.WithBlobEndpoint(azuretest.ConnectionString(t), proxyURL)
			// 4 MiB blocks, so packs go up as staged blocks and a commit.
			b, err := azure.New(context.Background(), azure.Options{Container: direct.Container(), ConnectionString: cs, Prefix: "repo", BlockSize: 4 << 20})
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
	},
}

// through starts a fault proxy with the faults in front of r's server and
// returns it with a backend that talks through it (see quickRetry); both
// close when the test ends.
func (r remote) through(t *testing.T, faults faultproxy.Faults) (*faultproxy.Proxy, backend.Backend) {
	t.Helper()
	proxy, err := faultproxy.Start(r.target(t), faults)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	be := quickRetry(r.open(t, proxy.URL()))
	t.Cleanup(func() { be.Close() })
	return proxy, be
}

// quickRetry is the production retry policy with short waits, so a test
// with many injected faults stays fast.
func quickRetry(b backend.Backend) backend.Backend {
	return retry.New(b, retry.Options{Attempts: 6, InitialDelay: 20 * time.Millisecond, MaxDelay: 200 * time.Millisecond})
}

// makeTree writes files of random (incompressible) data totalling about
// size bytes, plus a few small text files, and returns the directory.
func makeTree(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	rng := rand.NewChaCha8([32]byte{7})
	const bigFile = 7 << 20
	for i := 0; size > 0; i++ {
		n := min(size, bigFile+i*12345)
		buf := make([]byte, n)
		_, _ = rng.Read(buf)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("blob-%02d.bin", i)), buf, 0o600); err != nil {
			t.Fatal(err)
		}
		size -= n
	}
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o700); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		text := strings.Repeat(fmt.Sprintf("setting-%d = value %d\n", i, i*i), 50+i)
		if err := os.WriteFile(filepath.Join(dir, "etc", fmt.Sprintf("app-%d.conf", i)), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// sameTree fails the test unless every regular file under want exists
// under got with the same bytes.
func sameTree(t *testing.T, want, got string) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(want, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		a, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(filepath.Join(got, rel))
		if err != nil {
			return fmt.Errorf("restored tree lacks %s: %w", rel, err)
		}
		if !bytes.Equal(a, b) {
			return fmt.Errorf("restored %s differs from the original", rel)
		}
		files++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("nothing to compare: the source tree is empty")
	}
}

// findRestored returns the directory inside a restore destination that
// corresponds to the source directory src (restores keep absolute paths
// below the destination).
func findRestored(t *testing.T, dest, src string) string {
	t.Helper()
	for _, cand := range []string{filepath.Join(dest, src), filepath.Join(dest, filepath.Base(src)), dest} {
		if _, err := os.Stat(filepath.Join(cand, "etc", "app-0.conf")); err == nil {
			return cand
		}
	}
	t.Fatalf("cannot find the restored tree of %s under %s", src, dest)
	return ""
}

// TestBackupThroughFaultsCompletes backs up tens of MiB (several packs)
// while the proxy drops connections, loses responses, answers 5xx, cuts
// and slows bodies; the backup must finish, verify deeply and restore
// byte for byte.
func TestBackupThroughFaultsCompletes(t *testing.T) {
	for _, r := range remotes {
		t.Run(r.name, func(t *testing.T) {
			ctx := context.Background()
			src := makeTree(t, 40<<20)
			proxy, be := r.through(t, faultproxy.Faults{
				Drop: 0.04, LoseResponse: 0.03, Error: 0.06, CutBody: 0.04, Slow: 0.05, SlowBytesPerSecond: 16 << 20, Seed: 1,
			})
			eng, err := engine.Open(ctx, be, engine.OpenOptions{Password: "test-password", Create: true})
			if err != nil {
				t.Fatalf("creating a repository through the faulty proxy: %v (%v)", err, proxy.Stats())
			}
			res, err := eng.Backup(ctx, engine.BackupRequest{Paths: []string{src}, Type: engine.TypeFull, Target: "data"}, nil)
			if err != nil {
				t.Fatalf("backup through the faulty proxy failed: %v (%v)", err, proxy.Stats())
			}
			if res.BytesRead < 40<<20 {
				t.Fatalf("backup read %d bytes; want the whole 40 MiB", res.BytesRead)
			}
			rep, err := eng.Verify(ctx, engine.VerifyRequest{All: true, Deep: true}, nil)
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if !rep.OK() || rep.Packs < 3 {
				t.Fatalf("verify found %v in %d packs; want no problem in 3 or more packs", rep.Problems, rep.Packs)
			}
			dest := t.TempDir()
			if _, err := eng.Restore(ctx, engine.RestoreRequest{Snapshot: "latest", To: dest}, nil); err != nil {
				t.Fatalf("restore through the faulty proxy: %v (%v)", err, proxy.Stats())
			}
			sameTree(t, src, findRestored(t, dest, src))
			st := proxy.Stats()
			if st.Injected() < 10 {
				t.Errorf("the proxy injected too few faults to mean anything: %v", st)
			}
			t.Logf("%s: %v", r.name, st)
			_ = eng.Close()
		})
	}
}

// TestBackupAgainstDeadStorageFailsCleanly makes the storage fail every
// request partway through a backup: the backup must fail with an error
// that names the storage, and the repository must hold no snapshot that
// references missing data.
func TestBackupAgainstDeadStorageFailsCleanly(t *testing.T) {
	for _, r := range remotes {
		t.Run(r.name, func(t *testing.T) {
			ctx := context.Background()
			src := makeTree(t, 24<<20)
			proxy, be := r.through(t, faultproxy.Faults{})
			eng, err := engine.Open(ctx, be, engine.OpenOptions{Password: "test-password", Create: true})
			if err != nil {
				t.Fatal(err)
			}
			// A first, good snapshot of part of the tree.
			if _, err := eng.Backup(ctx, engine.BackupRequest{Paths: []string{filepath.Join(src, "etc")}, Type: engine.TypeFull, Target: "etc"}, nil); err != nil {
				t.Fatal(err)
			}
			// The storage dies once the second backup has read 8 MiB.
			var died atomic.Bool
			_, err = eng.Backup(ctx, engine.BackupRequest{Paths: []string{src}, Type: engine.TypeFull, Target: "data"}, func(p engine.Progress) {
				if p.Bytes > 8<<20 && !died.Swap(true) {
					proxy.SetFaults(faultproxy.Everything)
				}
			})
			if err == nil {
				t.Fatalf("backup succeeded although every request failed from 8 MiB on (%v)", proxy.Stats())
			}
			if !strings.Contains(err.Error(), be.Location()) {
				t.Errorf("the error %q does not name the storage %s", err, be.Location())
			}
			t.Logf("%s: the backup failed as it should: %v", r.name, err)
			_ = eng.Close()

			// The storage comes back: only the first snapshot exists and
			// everything it references is there.
			proxy.SetFaults(faultproxy.Faults{})
			eng, err = engine.Open(ctx, be, engine.OpenOptions{Password: "test-password"})
			if err != nil {
				t.Fatal(err)
			}
			defer eng.Close()
			snaps, err := eng.Snapshots(ctx, engine.SnapshotFilter{})
			if err != nil {
				t.Fatal(err)
			}
			for _, sn := range snaps {
				if sn.Target == "data" {
					t.Fatalf("the failed backup left snapshot %s (%s)", sn.Name, sn.ID)
				}
			}
			if len(snaps) != 1 {
				t.Fatalf("%d snapshots after the failed backup; want the 1 good one", len(snaps))
			}
			rep, err := eng.Verify(ctx, engine.VerifyRequest{All: true, Deep: true}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK() {
				t.Fatalf("after the failed backup verify found %v", rep.Problems)
			}
		})
	}
}
