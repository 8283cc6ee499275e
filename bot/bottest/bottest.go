// Package bottest builds, for the adapters' tests, the service's job stack
// on a real Redis: a worker over a local repository of one "data" target,
// and the router in front of it, as `backupbot serve` wires them. It also
// reads back what the workers did from the job event stream.
package bottest

import (
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/internal/runtest"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/storage"
)

// RepoPassword is the stack's repository password.
const RepoPassword = "test repository password"

// Options shape a Stack.
type Options struct {
	// Platform's users ("slack", "discord") are bound to the operator role,
	// or to Role when set (see Operators).
	Platform string
	Role     string
	// Data is the directory of the "data" target.
	Data string
	// Front is the Redis client the router and its job client use (a test
	// may hook it to cut calls); nil means the worker's.
	Front redis.UniversalClient
	// Operators are the identities bound to the operator role (or Role);
	// empty means every user of Platform.
	Operators []string
	// Concurrency is the worker's (2 when 0).
	Concurrency int
	// ProgressInterval and EditInterval, when set, are the worker's
	// progress and the router's message-edit intervals.
	ProgressInterval, EditInterval time.Duration
}

// Stack is a running worker with a router in front of it.
type Stack struct {
	Router *bot.Router
	Jobs   *jobs.Client
	Config *config.File
}

// New starts a worker on rdb (stopped when the test ends) and returns the
// router in front of it, with storage "local" in a fresh directory.
func New(t testing.TB, rdb redis.UniversalClient, o Options) *Stack {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := &config.File{
		Storages: map[string]storage.Spec{"local": {Type: storage.KindLocal, Path: t.TempDir()}},
		Targets:  map[string]config.Target{"data": {Paths: []string{o.Data}}},
	}
	if len(o.Operators) == 0 {
		o.Operators = []string{o.Platform + ":*"}
	}
	if o.Concurrency == 0 {
		o.Concurrency = 2
	}
	role := o.Role
	if role == "" {
		role = "operator"
	}
	pol, err := policy.New(policy.Config{Bindings: map[string][]string{role: o.Operators}})
	if err != nil {
		t.Fatal(err)
	}
	front := o.Front
	if front == nil {
		front = rdb
	}
	worker := jobs.NewWorker(nil, rdb, jobs.Deps{
		Config:   func() *config.File { return cfg },
		Password: func(storage.Spec) (string, error) { return RepoPassword, nil },
		Logger:   quiet,
	}, jobs.WorkerOptions{Concurrency: o.Concurrency, ProgressInterval: o.ProgressInterval})
	runtest.Go(t, "worker", worker.Run)
	jc := jobs.NewClient(nil, front, jobs.ClientOptions{Logger: quiet})
	t.Cleanup(func() { jc.Close() })
	// As backupbot serve does: the configured directories are locations.
	holder := policy.NewHolder(pol.WithLocations([]string{cfg.Storages["local"].Path, o.Data}))
	router := bot.NewRouter(bot.RouterOptions{
		Parser: cfg.Parser(),
		Jobs:   jc, Redis: front, Policy: holder, Logger: quiet,
		EditInterval: o.EditInterval,
	})
	return &Stack{Router: router, Jobs: jc, Config: cfg}
}

// Run registers a as the router's adapter for platform and runs the
// router until the test ends, so job events reach a's threads.
func (s *Stack) Run(t testing.TB, platform bot.Platform, a bot.Surface) {
	t.Helper()
	s.Router.Register(platform, a)
	runtest.Go(t, "router", s.Router.Run)
	time.Sleep(100 * time.Millisecond) // let the router's event subscription start
}

// WriteData fills dir with files of size random bytes each, enough for a
// backup that reports progress more than once.
func WriteData(t testing.TB, dir string, files, size int) {
	t.Helper()
	buf := make([]byte, size)
	for i := range files {
		_, _ = rand.Read(buf)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file-%03d.bin", i)), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
