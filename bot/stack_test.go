package bot_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/console"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/policy/approval"
	"github.com/backupbot/backupbot/policy/audit"
	"github.com/backupbot/backupbot/storage"
	"github.com/backupbot/backupbot/storage/backend"
)

// stack is the whole chat path in one process: router, console surface
// (alice's), an in-process worker, a local repository.
type stack struct {
	watch
	dir      string
	ctx      context.Context
	router   *bot.Router
	data     string
	rdb      *redis.Client
	clockOff atomic.Int64 // added to the approval store's clock
	later    atomic.Int64 // added to the worker's clock (expiry and retention)
	alice    *console.Console
	seen     int // transcript lines before the last typed line
}

func newStack(t *testing.T, withWorker bool) *stack {
	t.Helper()
	rdb := redisClient(t)
	dir := t.TempDir()
	s := &stack{watch: watch{t: t, out: &transcript{}}, dir: dir, data: writeData(t, dir, threeFiles), rdb: rdb}
	cfg := localConfig(dir, s.data)
	// The configured locations, as the service derives them, plus the
	// temporary directory, where these tests restore to (--to): the path
	// policy itself is tested in TestOperatorPathsThroughTheRouter.
	holder := testHolder(t, filepath.Join(dir, "repo"), s.data, os.TempDir())
	auditLog := openAudit(t, rdb, audit.Options{File: filepath.Join(dir, "audit.jsonl")})
	client := newJobClient(t, rdb, nil)
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

	bg := runServices(t, s.out)
	s.ctx = bg.ctx
	bg.run(s.router.Run)
	if withWorker {
		d := workerDeps(cfg, holder)
		d.Now = func() time.Time { return time.Now().Add(time.Duration(s.later.Load())) }
		// A repository under a directory named "flaky" does not answer: a
		// failure a retry may fix.
		d.OpenBackend = func(ctx context.Context, spec storage.Spec) (backend.Backend, error) {
			if filepath.Base(spec.Path) == "flaky" {
				return nil, errors.New("the storage did not answer in time")
			}
			return storage.Open(ctx, spec)
		}
		bg.run(jobs.NewWorker(nil, rdb, d, jobs.WorkerOptions{Concurrency: 2}).Run)
	}
	// Let the router's event subscription start: it reads events added
	// from then on, and an enqueue is now one quick Redis step.
	time.Sleep(100 * time.Millisecond)
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
	s.seen = len(s.out.Lines())
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
		lines := s.out.Lines()
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
