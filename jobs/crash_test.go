package jobs

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/internal/testredis"
	"github.com/backupbot/backupbot/storage"
	"github.com/backupbot/backupbot/storage/backend"
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
	opt.DB = testredis.DBJobs
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
	for _, s := range (&engineHarness{harness: h, repo: repoDir}).snapshots() {
		if s.Name == "survivor" {
			named++
		}
	}
	if named != 1 {
		t.Errorf("%d snapshots named survivor, want exactly 1", named)
	}
}
