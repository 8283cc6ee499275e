package engine_test

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	"github.com/backupbot/backupbot/storage/local"
	"github.com/backupbot/backupbot/storage/s3"
	"github.com/backupbot/backupbot/storage/s3/s3test"
)

// failingBackend lets the first `ok` pack uploads through, then fails
// every later one with fail. With crash set it also fails index writes
// and lock removals, as a killed process would leave them undone.
type failingBackend struct {
	backend.Backend
	ok     int64
	puts   atomic.Int64
	stored atomic.Int64
	fail   error
	crash  bool
}

func (f *failingBackend) Put(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
	if strings.HasPrefix(key, "data/") {
		if f.puts.Add(1) > f.ok {
			// Fail only once the packs let through are stored, so that
			// the failure's cancel cannot cut them short.
			for deadline := time.Now().Add(10 * time.Second); f.stored.Load() < f.ok && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
			return fmt.Errorf("put %s: %w", key, f.fail)
		}
		err := f.Backend.Put(ctx, key, body, size)
		if err == nil {
			f.stored.Add(1)
		}
		return err
	}
	if f.crash && strings.HasPrefix(key, "index/") {
		return fmt.Errorf("put %s: %w", key, f.fail)
	}
	return f.Backend.Put(ctx, key, body, size)
}

func (f *failingBackend) Delete(ctx context.Context, key string) error {
	if f.crash && strings.HasPrefix(key, "locks/") {
		return fmt.Errorf("delete %s: %w", key, f.fail)
	}
	return f.Backend.Delete(ctx, key)
}

// randomTree writes mib MiB of incompressible data in 1 MiB files.
func randomTree(t *testing.T, dir string, mib int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(mib), 42))
	buf := make([]byte, 1<<20)
	for i := range mib {
		for j := 0; j < len(buf); j += 8 {
			v := rng.Uint64()
			for k := range 8 {
				buf[j+k] = byte(v >> (8 * k))
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d.bin", i)), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A backup cut off midway leaves its packs; the next one reuses them
// instead of uploading the same data again: through the index file the
// failed backup wrote for them (a transient failure), or by adopting them
// from their own headers (a crash: no index file, the lock left behind).
func TestBackupResumesFromThePacksOfAnInterruptedOne(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(map[bool]string{false: "failed", true: "crashed"}[crash], func(t *testing.T) {
			resumeScenario(t, localAt(t, t.TempDir(), local.WithoutSync()), 48, crash)
		})
	}
}

// A crashed backup on S3 and Azure, whose listings carry the storage's
// own times.
func TestBackupResumesOnRemoteStorages(t *testing.T) {
	t.Run("s3", func(t *testing.T) { resumeScenario(t, s3test.New(t, s3.Options{}), 36, true) })
	t.Run("azure", func(t *testing.T) { resumeScenario(t, azuretest.New(t, azure.Options{}), 36, true) })
}

func resumeScenario(t *testing.T, b backend.Backend, mib int, crash bool) {
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "src")
	randomTree(t, src, mib)
	fb := &failingBackend{Backend: b, ok: 2, fail: errors.New("connection reset by peer"), crash: crash}
	e1 := openOver(t, fb)
	req := engine.BackupRequest{Paths: []string{src}, Target: "data", Type: engine.TypeFull, JobID: "job-1/data"}
	if _, err := e1.Backup(ctx, req, nil); err == nil || backend.IsPermanent(err) {
		t.Fatalf("first backup: %v, want a transient failure", err)
	}
	left := 0
	if err := b.List(ctx, "data/", func(backend.Info) error { left++; return nil }); err != nil {
		t.Fatal(err)
	}
	if left < 1 {
		t.Fatalf("the interrupted backup left %d packs, want some", left)
	}

	e2 := openOver(t, b)
	res, err := e2.Backup(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("resumed %d packs (%d MiB); added %.1f MiB of %d MiB", res.ResumedPacks, res.ResumedBytes>>20, float64(res.BytesAdded)/(1<<20), mib)
	wantAdopted := 0
	if crash {
		wantAdopted = left
	}
	// A Put cancelled by the failure may still land on a remote server:
	// the retry may find more packs than were listed just after it.
	if res.ResumedPacks < wantAdopted || (!crash && res.ResumedPacks != 0) {
		t.Errorf("the retry adopted %d packs, want %d", res.ResumedPacks, wantAdopted)
	}
	var stored int64
	_ = b.List(ctx, "data/", func(i backend.Info) error { stored += i.Size; return nil })
	stored -= res.BytesAdded // what the first attempt stored, roughly
	if limit := int64(mib)<<20 - stored + 1<<20; stored <= 0 || res.BytesAdded > limit {
		t.Errorf("the retry added %d bytes, want at most %d: it uploaded again what the first attempt had stored", res.BytesAdded, limit)
	}
	if locks, _ := e2.Locks(ctx); len(locks) != 0 {
		t.Errorf("locks left after the retry: %v", locks)
	}
	rep, err := e2.Verify(ctx, engine.VerifyRequest{All: true, Deep: true}, nil)
	if err != nil || !rep.OK() {
		t.Fatalf("verify --deep after the resumed backup: %v %+v", err, rep)
	}
	if rep.Unreferenced != 0 {
		t.Errorf("%d packs left unreferenced after the resume, want 0", rep.Unreferenced)
	}
}

// A pack stored after a live backup took its lock may be that backup's,
// which could still fail for good and delete it: it is not adopted. Older
// unindexed packs are.
func TestResumeLeavesPacksOfALiveBackupAlone(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src, repoDir := filepath.Join(dir, "src"), filepath.Join(dir, "repo")
	randomTree(t, src, 24)
	lb := localAt(t, repoDir, local.WithoutSync())
	e1 := openOver(t, &failingBackend{Backend: lb, ok: 1, fail: errors.New("connection reset by peer"), crash: true})
	if _, err := e1.Backup(ctx, engine.BackupRequest{Paths: []string{src}, Target: "data", Type: engine.TypeFull}, nil); err == nil {
		t.Fatal("the first backup did not fail")
	}
	// Another backup is running (its lock is live), and the unindexed
	// pack could be one it just stored.
	other := openOver(t, lb)
	lock, err := other.Repository().LockJob(ctx, false, "backup other", "job-other/data")
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock(ctx)
	e2 := openOver(t, lb)
	adopted, st, err := e2.Repository().AdoptUnindexed(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(adopted) != 0 || st.Skipped == 0 {
		t.Fatalf("adopted %d packs (skipped %d) while a live backup may own them; want none adopted", len(adopted), st.Skipped)
	}
	// Stored well before that backup locked: not its packs.
	old := time.Now().Add(-10 * time.Minute)
	if err := filepath.WalkDir(filepath.Join(repoDir, "data"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			err = os.Chtimes(p, old, old)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	adopted, _, err = e2.Repository().AdoptUnindexed(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(adopted) == 0 {
		t.Fatal("packs stored before the live backup started were not adopted")
	}
}

// A retry of a job takes over the lock its dead attempt left.
func TestRetryOfAJobTakesOverItsLock(t *testing.T) {
	ctx := context.Background()
	e := openOver(t, localAt(t, t.TempDir(), local.WithoutSync()))
	first, err := e.Repository().LockJob(ctx, false, "backup data", "job-7/data")
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.Repository().LockJob(ctx, false, "backup data", "job-7/data")
	if err != nil {
		t.Fatal(err)
	}
	locks, err := e.Locks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(locks) != 1 || locks[0].ID != second.ID() {
		t.Fatalf("locks after the retry locked: %v; want only the retry's", locks)
	}
	_ = first.Unlock(ctx) // the dead attempt's lock is gone already: no error
	if err := second.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if locks, _ := e.Locks(ctx); len(locks) != 0 {
		t.Fatalf("locks left: %v", locks)
	}
}

// A backup that fails for good (the storage is full) removes the packs it
// uploaded and its lock.
func TestPermanentFailureRemovesThePartialBackup(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src, repoDir := filepath.Join(dir, "src"), filepath.Join(dir, "repo")
	randomTree(t, src, 40)
	full := fmt.Errorf("no space left on the storage: %w: %w", backend.ErrNoSpace, backend.ErrPermanent)
	e := openOver(t, &failingBackend{Backend: localAt(t, repoDir, local.WithoutSync()), ok: 2, fail: full})
	_, err := e.Backup(ctx, engine.BackupRequest{Paths: []string{src}, Target: "data", Type: engine.TypeFull}, nil)
	if !errors.Is(err, backend.ErrNoSpace) {
		t.Fatalf("backup: %v, want the no-space error", err)
	}
	if !strings.Contains(err.Error(), "packs it had uploaded were removed") && !strings.Contains(err.Error(), "pack it had uploaded was removed") {
		t.Errorf("error %q does not say the partial data was removed", err)
	}
	for _, sub := range []string{"data", "index", "snapshots", "locks"} {
		if n := countFiles(t, filepath.Join(repoDir, sub)); n != 0 {
			t.Errorf("%d files left in %s/ after the failed backup, want 0", n, sub)
		}
	}
}
