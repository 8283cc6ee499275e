package jobs

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/storage"
	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/engine"
)

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

// bigTree writes n MiB of incompressible data in 1 MiB files.
func bigTree(t testing.TB, dir string, mib int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range mib {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d.bin", i)), randomBytes(1<<20, uint64(i+7)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// verifyRepo deep-verifies a local repository and makes one more backup
// into it, failing the test unless both succeed.
func verifyRepo(t *testing.T, repoDir, src string) {
	t.Helper()
	ctx := context.Background()
	b, err := storage.Open(ctx, storage.Spec{Type: storage.KindLocal, Path: repoDir})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	e, err := engine.Open(ctx, b, engine.OpenOptions{Password: testRepoPassword})
	if err != nil {
		t.Fatalf("open the repository after the interruption: %v", err)
	}
	defer e.Close()
	rep, err := e.Verify(ctx, engine.VerifyRequest{All: true, Deep: true}, nil)
	if err != nil || !rep.OK() {
		t.Fatalf("the repository does not verify clean after the interruption: %v %+v", err, rep)
	}
	if _, err := e.Backup(ctx, engine.BackupRequest{Paths: []string{src}, Target: "data", Type: engine.TypeIncremental, Compress: true}, nil); err != nil {
		t.Fatalf("a backup after the interruption fails: %v", err)
	}
}

func TestCancelOfARunningBackupLeavesTheRepositoryClean(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	src, repoDir := filepath.Join(dir, "data"), filepath.Join(dir, "repo")
	bigTree(t, src, 24)
	h.cfg = testConfig(repoDir, map[string]string{"data": src})
	deps := h.deps()
	deps.OpenBackend = openSlow(150 * time.Millisecond)
	h.startWorker(deps, WorkerOptions{ProgressInterval: 100 * time.Millisecond})

	meta := h.enqueue(&commands.Create{Type: commands.TypeFull, Target: "data", Compress: true})
	if _, ok := h.events.wait(20*time.Second, func(e Event) bool {
		return e.Meta.JobID == meta.JobID && e.Kind == EventProgress && e.Progress.Bytes > 0
	}); !ok {
		t.Fatal("the backup reported no progress within 20 s")
	}
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

// The SIGKILL test runs a worker in a child process (this test binary,
// re-executed with childEnv set) so it can be killed for real.
const (
	childEnv      = "BACKUPBOT_JOBS_TEST_CHILD"
	childRepoEnv  = "BACKUPBOT_JOBS_TEST_REPO"
	childSrcEnv   = "BACKUPBOT_JOBS_TEST_SRC"
	childDelayEnv = "BACKUPBOT_JOBS_TEST_PUT_DELAY"
)

// runChild is the body of the re-executed test binary: a worker with a
// slow backend that runs until killed.
func runChild() int {
	url := os.Getenv("BACKUPBOT_TEST_REDIS_URL")
	opt, err := redis.ParseURL(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child worker:", err)
		return 2
	}
	opt.DB = testDB
	rdb := redis.NewClient(opt)
	delay, _ := time.ParseDuration(os.Getenv(childDelayEnv))
	cfg := &config.File{
		Storages: map[string]storage.Spec{"local": {Type: storage.KindLocal, Path: os.Getenv(childRepoEnv)}},
		Targets:  map[string]config.Target{"data": {Paths: []string{os.Getenv(childSrcEnv)}}},
	}
	w := NewWorker(nil, rdb, Deps{
		Config:      func() *config.File { return cfg },
		Password:    func(storage.Spec) (string, error) { return testRepoPassword, nil },
		OpenBackend: openSlow(delay),
		Logger:      quietLogger(),
	}, WorkerOptions{ProgressInterval: 100 * time.Millisecond})
	_ = w.Run(context.Background()) // until SIGKILL
	return 0
}

func TestJobOfAKilledWorkerIsFinishedByAnother(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	src, repoDir := filepath.Join(dir, "data"), filepath.Join(dir, "repo")
	bigTree(t, src, 24)
	h.cfg = testConfig(repoDir, map[string]string{"data": src})

	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), childEnv+"=worker", childRepoEnv+"="+repoDir, childSrcEnv+"="+src, childDelayEnv+"=200ms")
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	time.Sleep(300 * time.Millisecond) // let the child's worker start polling

	meta := h.enqueue(&commands.Create{Type: commands.TypeFull, Target: "data", Compress: true, Name: "survivor"})
	if _, ok := h.events.wait(20*time.Second, func(e Event) bool {
		return e.Meta.JobID == meta.JobID && e.Kind == EventProgress && e.Progress.Bytes > 0
	}); !ok {
		t.Fatal("the child worker did not start the backup within 20 s")
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
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
	for _, s := range (&engineHarness{harness: h, repo: repoDir}).snapshots() {
		if s.Name == "survivor" {
			named++
		}
	}
	if named != 1 {
		t.Errorf("%d snapshots named survivor, want exactly 1", named)
	}
}
