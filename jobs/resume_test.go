package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/storage"
	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/engine"
	"github.com/backupbot/backupbot/storage/s3"
	"github.com/backupbot/backupbot/storage/s3/s3test"
)

// Jobs interrupted halfway (canceled, or their worker SIGKILLed) and
// backups refused by their storage: what the retry, the repository and the
// thread see afterwards.

// resumeMiBEnv sets the size of the resume test's data; make bench runs
// it with 2048 (2 GiB), make test with the default.
const resumeMiBEnv = "BACKUPBOT_RESUME_MIB"

// dirBytes sums the sizes of the files under dir.
func dirBytes(t testing.TB, dir string) (n int64, files int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".tmp-") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // renamed or removed meanwhile
		}
		n += info.Size()
		files++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n, files
}

// A worker process SIGKILLed halfway through a backup: the job's retry on
// another worker adopts the packs the killed attempt stored, uploads only
// the rest, leaves a repository that verifies deep and no lock behind.
func TestKilledBackupIsResumedByTheRetry(t *testing.T) {
	mib := 200
	if v := os.Getenv(resumeMiBEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 50 {
			t.Fatalf("%s=%q: want a number of MiB, at least 50", resumeMiBEnv, v)
		}
		mib = n
	}
	total := int64(mib) << 20
	h, src, repoDir := newDataHarness(t, func(dir string) { incompressibleTree(t, dir, mib) })
	// Slow the child's uploads so the whole backup takes a few seconds
	// whatever its size, and the kill lands near the middle.
	child := startChildWorker(t, repoDir, src, max(20*time.Millisecond, 3*time.Second/time.Duration(mib/12+1)))

	start := time.Now()
	meta := h.enqueue(&commands.Create{Type: commands.TypeFull, Target: "data", Name: "resumed"})
	ev := h.waitProgress(meta.JobID, time.Duration(mib)*time.Second, func(p *Progress) bool {
		return p.BytesTotal > 0 && p.Bytes*2 >= p.BytesTotal // half of the backup
	})
	killChild(t, child)
	stored, packs := dirBytes(t, filepath.Join(repoDir, "data"))
	t.Logf("killed the worker at %.0f%% of %d MiB after %s; %d packs (%.0f MiB) were stored",
		100*float64(ev.Progress.Bytes)/float64(ev.Progress.BytesTotal), mib, time.Since(start).Round(time.Millisecond), packs, float64(stored)/(1<<20))
	if packs == 0 {
		t.Fatal("the killed attempt stored no pack: nothing to resume from")
	}

	killedAt := time.Now()
	h.startWorker(h.deps(), WorkerOptions{})
	final := h.waitFinal(meta.JobID, 90*time.Second+time.Duration(mib)*100*time.Millisecond)
	if final.Kind != EventSucceeded || final.Attempt != 2 {
		t.Fatalf("final event %s attempt %d (%s), want succeeded on attempt 2", final.Kind, final.Attempt, final.Error)
	}
	var results []engine.BackupResult
	if err := json.Unmarshal(final.Result.Data, &results); err != nil || len(results) != 1 {
		t.Fatalf("result data %s: %v", final.Result.Data, err)
	}
	r := results[0]
	share := float64(r.BytesAdded) / float64(total)
	t.Logf("the retry finished %s after the kill: adopted %d packs (%.0f MiB), added %.0f MiB = %.1f%% of the data",
		time.Since(killedAt).Round(time.Second), r.ResumedPacks, float64(r.ResumedBytes)/(1<<20), float64(r.BytesAdded)/(1<<20), 100*share)
	if int64(r.ResumedPacks) != int64(packs) {
		t.Errorf("the retry adopted %d packs, the killed attempt had stored %d", r.ResumedPacks, packs)
	}
	// Everything the killed attempt stored is reused: the retry uploads
	// only the rest (plus its index, its snapshot and the tree packs).
	if slack := int64(2 << 20); r.BytesAdded > total-stored+slack {
		t.Errorf("the retry added %d bytes; with %d of %d already stored it should add at most %d", r.BytesAdded, stored, total, total-stored+slack)
	}
	if share >= 0.6 && mib >= 1024 {
		t.Errorf("the retry uploaded %.1f%% of the data again, want under 60%%", 100*share)
	}

	withRepo(t, repoDir, func(ctx context.Context, e *engine.Engine) {
		locks, err := e.Locks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(locks) != 0 {
			t.Errorf("locks left after the resumed backup: %v", locks)
		}
	})
	verifyRepo(t, repoDir, src)
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory and unmounts
// it when the test ends.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.Itoa(size)); err != nil {
		t.Fatalf("mounting a %d-byte tmpfs on %s for the full-disk test (needs root, as `make test` runs): %v", size, dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}

// waitStorageRefusal waits for job id to end and fails the test unless it
// failed on its first attempt, with an error of its storage's marked
// permanent, and returns the final event.
func (h *harness) waitStorageRefusal(id string) Event {
	h.t.Helper()
	ev := h.waitFinal(id, 60*time.Second)
	if ev.Kind != EventFailed || ev.Attempt != 1 {
		h.t.Fatalf("final event %s on attempt %d (%s); want failed on attempt 1", ev.Kind, ev.Attempt, ev.Error)
	}
	h.t.Logf("the thread is told: %s", ev.Error)
	if !ev.StoragePermanent {
		h.t.Error("the failed event is not marked permanent: chat would offer a Retry that fails the same way")
	}
	return ev
}

// A backup into a full file system fails once, says the storage is full,
// is not retried, and leaves no partial packs and no lock behind.
func TestBackupToAFullDiskFailsOnceAndCleansUp(t *testing.T) {
	h := newHarness(t)
	repoDir := filepath.Join(mountTmpfs(t, 20<<20), "repo")
	src := filepath.Join(t.TempDir(), "data")
	incompressibleTree(t, src, 48)
	h.cfg = testConfig(repoDir, map[string]string{"data": src})
	h.startWorker(h.deps(), WorkerOptions{})

	meta := h.enqueue(&commands.Create{Type: commands.TypeFull, Target: "data"})
	ev := h.waitStorageRefusal(meta.JobID)
	if !strings.Contains(ev.Error, "no space left on the storage") || !strings.Contains(ev.Error, "free space") {
		t.Errorf("failure %q does not say the storage is full and what to do", ev.Error)
	}
	if !strings.Contains(ev.Error, "uploaded was removed") && !strings.Contains(ev.Error, "uploaded were removed") {
		t.Errorf("failure %q does not say the partial packs were removed", ev.Error)
	}
	time.Sleep(300 * time.Millisecond) // a retry would have been enqueued with no delay
	if kinds := h.events.kinds(meta.JobID); slices.Contains(kinds, EventRetrying) || h.events.count(EventFailed) != 1 {
		t.Errorf("events %v: want one failure and no retry", kinds)
	}
	for _, sub := range []string{"data", "index", "snapshots", "locks"} {
		if n, files := dirBytes(t, filepath.Join(repoDir, sub)); files != 0 {
			t.Errorf("%d files (%d bytes) left in %s/ after the failed backup, want none", files, n, sub)
		}
	}
}

// Bad credentials and a missing bucket fail at once, say what to check,
// and are not retried.
func TestS3CredentialsAndBucketErrorsAreNotRetried(t *testing.T) {
	srv := s3test.Env(t)
	bucket := s3test.UniqueBucket(t)
	s3test.New(t, s3.Options{Bucket: bucket}) // exists, with the right keys
	home := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, "credentials"))
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	src := filepath.Join(t.TempDir(), "data")
	incompressibleTree(t, src, 1)

	for _, tc := range []struct {
		name, secret, bucket, want string
	}{
		{"wrong secret", "not-the-secret", bucket, "denied"},
		{"missing bucket", srv.SecretKey, bucket + "-missing", "does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_SECRET_ACCESS_KEY", tc.secret)
			h := newHarness(t)
			h.cfg = testConfig(t.TempDir(), map[string]string{"data": src})
			h.cfg.Storages["remote"] = storage.Spec{Type: storage.KindS3, Bucket: tc.bucket, Endpoint: srv.Endpoint, Region: srv.Region, PathStyle: true}
			h.startWorker(h.deps(), WorkerOptions{})
			start := time.Now()
			meta := h.enqueue(&commands.Create{Type: commands.TypeFull, Target: "data", Storage: commands.StorageRef{Name: "remote"}})
			ev := h.waitStorageRefusal(meta.JobID)
			if !strings.Contains(ev.Error, tc.want) {
				t.Errorf("failure %q does not say %q", ev.Error, tc.want)
			}
			if strings.Contains(ev.Error, "not-the-secret") {
				t.Errorf("failure %q shows the secret", ev.Error)
			}
			if kinds := h.events.kinds(meta.JobID); slices.Contains(kinds, EventRetrying) {
				t.Errorf("events %v: a permanent error was retried", kinds)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("the failure took %s; a permanent error must not be retried with backoff", d)
			}
		})
	}
}

// slowBackend delays every Put, so a backup of a few MiB takes seconds:
// long enough to cancel or kill it in the middle.
type slowBackend struct {
	backend.Backend
	delay time.Duration
}

func (s slowBackend) Put(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(s.delay):
	}
	return s.Backend.Put(ctx, key, body, size)
}

func openSlow(delay time.Duration) func(context.Context, storage.Spec) (backend.Backend, error) {
	return func(ctx context.Context, spec storage.Spec) (backend.Backend, error) {
		b, err := storage.Open(ctx, spec)
		if err != nil {
			return nil, err
		}
		return slowBackend{b, delay}, nil
	}
}

func TestCancelOfARunningBackupLeavesTheRepositoryClean(t *testing.T) {
	h, src, repoDir := newDataHarness(t, func(dir string) { incompressibleTree(t, dir, 24) })
	deps := h.deps()
	deps.OpenBackend = openSlow(150 * time.Millisecond)
	h.startWorker(deps, WorkerOptions{ProgressInterval: 100 * time.Millisecond})

	meta := h.enqueue(&commands.Create{Type: commands.TypeFull, Target: "data", Compress: true})
	h.waitProgress(meta.JobID, 20*time.Second, func(p *Progress) bool { return p.Bytes > 0 })
	if err := h.client.Cancel(context.Background(), meta.JobID); err != nil {
		t.Fatal(err)
	}
	ev := h.waitFinal(meta.JobID, 20*time.Second)
	if ev.Kind != EventCanceled {
		t.Fatalf("final event %s (%s), want canceled", ev.Kind, ev.Error)
	}
	if st, _ := h.client.Status(context.Background(), meta.JobID); st.State != StateCanceled || st.Attempt != 1 {
		t.Errorf("status %s attempt %d, want canceled after one attempt", st.State, st.Attempt)
	}
	verifyRepo(t, repoDir, src)
}

// startChildWorker runs a worker in a child process (runChild) on the
// local repository repoDir with one target "data" at src, each Put of its
// delayed by delay; it is killed when the test ends, if not before.
func startChildWorker(t *testing.T, repoDir, src string, delay time.Duration) *exec.Cmd {
	t.Helper()
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), childEnv+"=worker", childRepoEnv+"="+repoDir, childSrcEnv+"="+src, childDelayEnv+"="+delay.String())
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	time.Sleep(300 * time.Millisecond) // let the child's worker start polling
	return child
}

// killChild kills the child worker for real (SIGKILL) and waits for it.
func killChild(t *testing.T, child *exec.Cmd) {
	t.Helper()
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
}

// waitProgress waits for a progress event of job id that ok accepts and
// returns it, failing the test when none comes within d.
func (h *harness) waitProgress(id string, d time.Duration, ok func(*Progress) bool) Event {
	h.t.Helper()
	ev, found := h.events.wait(d, func(e Event) bool { return e.Meta.JobID == id && e.Kind == EventProgress && ok(e.Progress) })
	if !found {
		h.t.Fatalf("job %s reported no such progress within %s; events %v", id, d, h.events.kinds(id))
	}
	return ev
}

func TestJobOfAKilledWorkerIsFinishedByAnother(t *testing.T) {
	h, src, repoDir := newDataHarness(t, func(dir string) { incompressibleTree(t, dir, 24) })
	child := startChildWorker(t, repoDir, src, 200*time.Millisecond)

	meta := h.enqueue(&commands.Create{Type: commands.TypeFull, Target: "data", Compress: true, Name: "survivor"})
	h.waitProgress(meta.JobID, 20*time.Second, func(p *Progress) bool { return p.Bytes > 0 })
	killChild(t, child)
	killedAt := time.Now()

	// A second worker, in this process, with a normal backend.
	h.startWorker(h.deps(), WorkerOptions{})
	ev := h.waitFinal(meta.JobID, 90*time.Second)
	t.Logf("job picked up and finished %s after the SIGKILL", time.Since(killedAt).Round(time.Second))
	if ev.Kind != EventSucceeded || ev.Attempt != 2 {
		t.Fatalf("final event %s attempt %d (%s), want succeeded on attempt 2", ev.Kind, ev.Attempt, ev.Error)
	}
	kinds := h.events.kinds(meta.JobID)
	if !slices.Contains(kinds, EventRetrying) {
		t.Fatalf("events %v: the thread was not told the job was retried", kinds)
	}
	for _, e := range h.events.of(meta.JobID) {
		if e.Kind == EventRetrying && !strings.Contains(e.Error, "another worker picked the job up") {
			t.Errorf("retrying event says %q; want it to say another worker took over", e.Error)
		}
	}
	verifyRepo(t, repoDir, src)
	named := 0
	for _, s := range snapshotsIn(t, repoDir) {
		if s.Name == "survivor" {
			named++
		}
	}
	if named != 1 {
		t.Errorf("%d snapshots named survivor, want exactly 1", named)
	}
}
