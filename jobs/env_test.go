package jobs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/internal/runtest"
	"github.com/backupbot/backupbot/internal/testredis"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/storage"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

// The SIGKILL tests run a worker in a child process (this test binary,
// re-executed with childEnv set: startChildWorker) so it can be killed for
// real.
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
	cfg := testConfig(os.Getenv(childRepoEnv), map[string]string{"data": os.Getenv(childSrcEnv)})
	deps := testDeps(func() *config.File { return cfg })
	deps.OpenBackend = openSlow(delay)
	w := NewWorker(nil, rdb, deps, WorkerOptions{ProgressInterval: 100 * time.Millisecond})
	_ = w.Run(context.Background()) // until SIGKILL
	return 0
}

// testRedis returns a client on the test-owned Redis, in the database of
// this package's tests (testredis.DBJobs), emptied: the tests FLUSHDB it,
// so they run one at a time.
func testRedis(t testing.TB) redis.UniversalClient {
	t.Helper()
	return testredis.Flushed(t, testredis.DBJobs)
}

func quietLogger() *slog.Logger {
	if os.Getenv("BACKUPBOT_TEST_VERBOSE") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

var alice = policy.Identity{Platform: "console", UserID: "alice", UserName: "alice"}

// testConfig is a config with one local storage and two targets in dir.
func testConfig(repo string, targets map[string]string) *config.File {
	cfg := &config.File{
		Storages: map[string]storage.Spec{"local": {Type: storage.KindLocal, Path: repo}},
		Targets:  map[string]config.Target{},
	}
	for name, path := range targets {
		cfg.Targets[name] = config.Target{Paths: []string{path}}
	}
	return cfg
}

// harness is a client, a worker and an event log on the test Redis.
type harness struct {
	t      testing.TB
	rdb    redis.UniversalClient
	client *Client
	events *eventLog
	cfg    *config.File
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	return newHarnessOn(t, testRedis(t))
}

// newHarnessOn is newHarness on a given Redis.
func newHarnessOn(t testing.TB, rdb redis.UniversalClient) *harness {
	t.Helper()
	h := &harness{t: t, rdb: rdb, events: &eventLog{}}
	h.client = NewClient(nil, rdb, ClientOptions{Logger: quietLogger()})
	t.Cleanup(func() { h.client.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = Subscribe(ctx, rdb, h.events.add) }()
	// Not waiting for done: the subscriber's blocking read ends within a
	// second, or at once when the client closes.
	t.Cleanup(cancel)
	// Subscribe resolves its start position at once; wait until it is
	// reading so no event of the test is missed.
	time.Sleep(50 * time.Millisecond)
	return h
}

// testRepoPassword is the repository password of the jobs tests: every
// new repository is encrypted and needs one.
const testRepoPassword = "jobs test repository password"

// testDeps returns worker dependencies on the configuration cfg gives,
// with the test password and a quiet logger.
func testDeps(cfg func() *config.File) Deps {
	return Deps{
		Config:   cfg,
		Password: func(storage.Spec) (string, error) { return testRepoPassword, nil },
		Logger:   quietLogger(),
	}
}

// deps returns worker dependencies on h.cfg with the test password.
func (h *harness) deps() Deps {
	return testDeps(func() *config.File { return h.cfg })
}

// startWorker runs a worker until the test ends (or stop is called).
func (h *harness) startWorker(deps Deps, o WorkerOptions) (stop func()) {
	h.t.Helper()
	if o.RetryDelay == nil {
		o.RetryDelay = func(int) time.Duration { return 0 }
	}
	w := NewWorker(nil, h.rdb, deps, o)
	return runtest.Go(h.t, "worker Run", w.Run)
}

func (h *harness) enqueue(cmd commands.Command) Meta {
	h.t.Helper()
	meta, err := h.client.Enqueue(context.Background(), cmd, Meta{Requester: alice, Channel: "ops", Text: string(cmd.Action())})
	if err != nil {
		h.t.Fatalf("Enqueue %s: %v", cmd.Action(), err)
	}
	return meta
}

// run enqueues cmd and returns its final event, failing the test unless
// it succeeded.
func (h *harness) run(cmd commands.Command) Event {
	h.t.Helper()
	meta := h.enqueue(cmd)
	ev := h.waitFinal(meta.JobID, 60*time.Second)
	if ev.Kind != EventSucceeded {
		h.t.Fatalf("%s job %s: %s: %s", cmd.Action(), meta.JobID, ev.Kind, ev.Error)
	}
	return ev
}

// waitFinal waits for the job's final event and returns it.
func (h *harness) waitFinal(id string, within time.Duration) Event {
	h.t.Helper()
	ev, ok := h.events.wait(within, func(e Event) bool { return e.Meta.JobID == id && e.Kind.Final() })
	if !ok {
		st, _ := h.client.Status(context.Background(), id)
		h.t.Fatalf("job %s did not finish within %s; status %+v; events %v", id, within, st, h.events.kinds(id))
	}
	return ev
}

// eventLog collects events for assertions.
type eventLog struct {
	mu     sync.Mutex
	events []Event
	notify chan struct{}
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	if l.notify != nil {
		close(l.notify)
		l.notify = nil
	}
	l.mu.Unlock()
}

func (l *eventLog) of(id string) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Event
	for _, e := range l.events {
		if e.Meta.JobID == id {
			out = append(out, e)
		}
	}
	return out
}

func (l *eventLog) kinds(id string) []EventKind {
	var out []EventKind
	for _, e := range l.of(id) {
		if len(out) > 0 && e.Kind == EventProgress && out[len(out)-1] == EventProgress {
			continue
		}
		out = append(out, e.Kind)
	}
	return out
}

// count counts events of one kind.
func (l *eventLog) count(k EventKind) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.Kind == k {
			n++
		}
	}
	return n
}

// wait returns the first event matching ok, waiting up to d for it.
func (l *eventLog) wait(d time.Duration, ok func(Event) bool) (Event, bool) {
	deadline := time.After(d)
	for {
		l.mu.Lock()
		for _, e := range l.events {
			if ok(e) {
				l.mu.Unlock()
				return e, true
			}
		}
		if l.notify == nil {
			l.notify = make(chan struct{})
		}
		ch := l.notify
		l.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			return Event{}, false
		}
	}
}
