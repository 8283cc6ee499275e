package bot_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/console"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/internal/testredis"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/policy/approval"
	"github.com/backupbot/backupbot/policy/audit"
	"github.com/backupbot/backupbot/storage"
	"github.com/backupbot/backupbot/storage/backend"
)

// redisClient connects to the test-owned Redis (from `make test`) on
// this package's database, emptied first.
func redisClient(t testing.TB) *redis.Client {
	t.Helper()
	return testredis.Flushed(t, testredis.DBBot)
}

// transcript is a console output shared by several users' consoles.
type transcript struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *transcript) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *transcript) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Split(strings.TrimRight(s.b.String(), "\n"), "\n")
}

// stack is the whole chat path in one process: router, console surface
// (alice's), an in-process worker, a local repository.
type stack struct {
	t        *testing.T
	dir      string
	ctx      context.Context
	router   *bot.Router
	out      *transcript
	data     string
	rdb      *redis.Client
	clockOff atomic.Int64 // added to the approval store's clock
	later    atomic.Int64 // added to the worker's clock (expiry and retention)
	alice    *console.Console
	seen     int // transcript lines before the last typed line
}

const testPolicy = `
policy:
  bindings:
    admin: ["console:alice"]
    approver: ["console:bob"]
    operator: ["console:carol"]
    viewer: ["console:*"]
  approval:
    required:
      - {actions: [restore], flags: {force: true}}
      - {actions: [cleanup], flags: {force: true}}
`

func newStack(t *testing.T, withWorker bool) *stack {
	t.Helper()
	rdb := redisClient(t)
	dir := t.TempDir()
	s := &stack{t: t, dir: dir, out: &transcript{}, data: filepath.Join(dir, "data"), rdb: rdb}
	if err := os.MkdirAll(s.data, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		s.write(fmt.Sprintf("file-%d.txt", i), fmt.Sprintf("contents %d\n", i))
	}
	cfg := &config.File{
		Storages: map[string]storage.Spec{"local": {Type: "local", Path: filepath.Join(dir, "repo")}},
		Targets:  map[string]config.Target{"data": {Paths: []string{s.data}}},
	}
	pol, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	// The configured locations, as the service derives them, plus the
	// temporary directory, where these tests restore to (--to): the path
	// policy itself is tested in paths_test.go.
	holder := policy.NewHolder(pol.WithLocations([]string{filepath.Join(dir, "repo"), s.data, os.TempDir()}))
	auditLog, err := audit.New(rdb, audit.Options{File: filepath.Join(dir, "audit.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { auditLog.Close() })
	client := jobs.NewClient(nil, rdb, jobs.ClientOptions{})
	t.Cleanup(func() { client.Close() })
	store := approval.New(rdb, holder, approval.Options{Now: func() time.Time {
		return time.Now().Add(time.Duration(s.clockOff.Load()))
	}})
	// The configuration as the service holds it: its parser and its door
	// check (the policy is the holder's).
	snap, err := config.NewSnapshot(cfg, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	s.router = bot.NewRouter(bot.RouterOptions{
		Config: func() bot.Configuration { return snap }, Jobs: client, Redis: rdb, Policy: holder, Approvals: store, Audit: auditLog,
		EditInterval: 100 * time.Millisecond,
	})
	alice := console.New(console.Options{User: bot.Identity{UserID: "alice"}, Out: s.out, EchoInput: true})
	s.router.Register(bot.Console, alice)
	s.alice = alice

	ctx, cancel := context.WithCancel(context.Background())
	s.ctx = ctx
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.router.Run(ctx) })
	if withWorker {
		w := jobs.NewWorker(nil, rdb, jobs.Deps{
			Config:   func() *config.File { return cfg },
			Password: func(storage.Spec) (string, error) { return "test repository password", nil },
			Policy:   func() jobs.Rechecker { return holder.Policy() },
			Now:      func() time.Time { return time.Now().Add(time.Duration(s.later.Load())) },
			// A repository under a directory named "flaky" does not
			// answer: a failure a retry may fix.
			OpenBackend: func(ctx context.Context, spec storage.Spec) (backend.Backend, error) {
				if filepath.Base(spec.Path) == "flaky" {
					return nil, errors.New("the storage did not answer in time")
				}
				return storage.Open(ctx, spec)
			},
		}, jobs.WorkerOptions{Concurrency: 2})
		wg.Go(func() { _ = w.Run(ctx) })
	}
	// Let the router's event subscription start: it reads events added
	// from then on, and an enqueue is now one quick Redis step.
	time.Sleep(100 * time.Millisecond)
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if t.Failed() {
			t.Logf("console transcript:\n%s", strings.Join(s.out.lines(), "\n"))
		}
	})
	return s
}

func (s *stack) write(name, contents string) {
	s.t.Helper()
	if err := os.WriteFile(filepath.Join(s.data, name), []byte(contents), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// as types line on user's console. Later expects look only at what was
// printed from then on.
func (s *stack) as(user, line string) {
	s.t.Helper()
	s.seen = len(s.out.lines())
	s.typeAs(user, line)
}

// typeAs types line on user's console without marking the transcript (safe
// to call from another goroutine).
func (s *stack) typeAs(user, line string) {
	c := s.alice
	if user != "alice" {
		c = console.New(console.Options{User: bot.Identity{UserID: user}, Out: s.out, EchoInput: true})
	}
	if err := c.Run(s.ctx, s.router, strings.NewReader(line+"\n")); err != nil {
		s.t.Error(err)
	}
}

// expect waits for a line matching re, printed since the last typed line
// (in any order: a reply and the relay's posts race), and returns its
// submatches.
func (s *stack) expect(re string, timeout time.Duration) []string {
	s.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for {
		lines := s.out.lines()
		for i := s.seen; i < len(lines); i++ {
			if m := rx.FindStringSubmatch(lines[i]); m != nil {
				return m
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no line matching %q within %s", re, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// count counts transcript lines matching re.
func (s *stack) count(re string) int {
	rx := regexp.MustCompile(re)
	n := 0
	for _, l := range s.out.lines() {
		if rx.MatchString(l) {
			n++
		}
	}
	return n
}
