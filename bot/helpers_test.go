// The shared test helpers of package bot: a Redis, data, configuration,
// policy and services to build a test's stack from, and chat surfaces
// that record what the router posts.

package bot_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/console/consoletest"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/internal/testredis"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/policy/audit"
	"github.com/backupbot/backupbot/storage"
)

// redisClient connects to the test-owned Redis (from `make test`) on
// this package's database, emptied first.
func redisClient(t testing.TB) *redis.Client {
	t.Helper()
	return testredis.Flushed(t, testredis.DBBot)
}

// transcript is a console output shared by several users' consoles.
type transcript = consoletest.Buffer

// watch reads a console transcript for a test.
type watch struct {
	t   *testing.T
	out *transcript
}

// count is how many lines match re.
func (o watch) count(re string) int {
	rx := regexp.MustCompile(re)
	n := 0
	for _, l := range o.out.Lines() {
		if rx.MatchString(l) {
			n++
		}
	}
	return n
}

// waitFor waits up to 15 s for n lines matching re and returns the last
// one's submatches.
func (o watch) waitFor(re string, n int) []string {
	o.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(15 * time.Second)
	for {
		var last []string
		c := 0
		for _, l := range o.out.Lines() {
			if m := rx.FindStringSubmatch(l); m != nil {
				c, last = c+1, m
			}
		}
		if c >= n {
			return last
		}
		if time.Now().After(deadline) {
			o.t.Fatalf("%d lines matching %q, want %d", c, re, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// repoPassword is the test repositories' password.
const repoPassword = "test repository password"

// threeFiles are the data target's files in most tests.
var threeFiles = map[string]string{"file-0.txt": "contents 0\n", "file-1.txt": "contents 1\n", "file-2.txt": "contents 2\n"}

// writeData makes dir/data holding files (name → contents; a name may
// have directories) and returns its path.
func writeData(t testing.TB, dir string, files map[string]string) string {
	t.Helper()
	data := filepath.Join(dir, "data")
	for name, body := range files {
		path := filepath.Join(data, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return data
}

// localConfig configures target "data" (the directory data) and storage
// "local" (a repository at dir/repo).
func localConfig(dir, data string) *config.File {
	return &config.File{
		Storages: map[string]storage.Spec{"local": {Type: storage.KindLocal, Path: filepath.Join(dir, "repo")}},
		Targets:  map[string]config.Target{"data": {Paths: []string{data}}},
	}
}

// testPolicy binds the console users alice (admin), bob (approver), carol
// (operator) and everyone else (viewer); a forced restore or cleanup needs
// an approval.
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

// testHolder holds testPolicy, knowing locations when given.
func testHolder(t testing.TB, locations ...string) *policy.Holder {
	t.Helper()
	pol, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if len(locations) > 0 {
		pol = pol.WithLocations(locations)
	}
	return policy.NewHolder(pol)
}

// newJobClient is a job client on rdb, closed when the test ends.
func newJobClient(t testing.TB, rdb redis.UniversalClient, log *slog.Logger) *jobs.Client {
	c := jobs.NewClient(nil, rdb, jobs.ClientOptions{Logger: log})
	t.Cleanup(func() { c.Close() })
	return c
}

// openAudit is an audit log on rdb, closed when the test ends.
func openAudit(t testing.TB, rdb *redis.Client, o audit.Options) *audit.Log {
	t.Helper()
	l, err := audit.New(rdb, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// workerDeps are a worker's dependencies on the configuration cfg: the
// test repository password and, with holder, its policy's re-check.
func workerDeps(cfg *config.File, holder *policy.Holder) jobs.Deps {
	d := jobs.Deps{Config: func() *config.File { return cfg }, Password: func(storage.Spec) (string, error) { return repoPassword, nil }}
	if holder != nil {
		d.Policy = func() jobs.Rechecker { return holder.Policy() }
	}
	return d
}

// services runs a test's background loops (router, worker, alerter…)
// until the test ends, then stops them and waits; if the test failed, it
// logs the console transcript out (when set).
type services struct {
	ctx context.Context
	wg  sync.WaitGroup
}

func runServices(t testing.TB, out *transcript) *services {
	ctx, cancel := context.WithCancel(context.Background())
	s := &services{ctx: ctx}
	t.Cleanup(func() {
		cancel()
		s.wg.Wait()
		if out != nil && t.Failed() {
			t.Logf("console transcript:\n%s", strings.Join(out.Lines(), "\n"))
		}
	})
	return s
}

// run runs loop until the test ends.
func (s *services) run(loop func(context.Context) error) {
	s.wg.Go(func() { _ = loop(s.ctx) })
}

// nullSurface accepts every message and shows it nowhere.
type nullSurface struct{}

func (nullSurface) Post(context.Context, string, string, bot.Message) (bot.MessageRef, error) {
	return bot.MessageRef{ID: "m"}, nil
}
func (nullSurface) Ephemeral(context.Context, string, string, string, bot.Message) error { return nil }
func (nullSurface) Edit(context.Context, bot.MessageRef, bot.Message) error              { return nil }
func (nullSurface) Attach(context.Context, string, string, string, []byte, string) error {
	return nil
}

// posted is one message a recordingSurface was given.
type posted struct {
	at      time.Time
	channel string
	thread  string
	text    string
}

// recordingSurface records what a bot process posted (when, where, what)
// and counts its edits.
type recordingSurface struct {
	nullSurface
	mu    sync.Mutex
	posts []posted
	edits int
}

func (r *recordingSurface) Post(_ context.Context, channel, thread string, m bot.Message) (bot.MessageRef, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.posts = append(r.posts, posted{at: time.Now(), channel: channel, thread: thread, text: m.Text})
	return bot.MessageRef{Channel: channel, ID: fmt.Sprintf("m%d", len(r.posts)), Thread: thread}, nil
}

func (r *recordingSurface) Edit(context.Context, bot.MessageRef, bot.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.edits++
	return nil
}

// all returns the posts so far.
func (r *recordingSurface) all() []posted {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]posted(nil), r.posts...)
}

// editCount is how many edits were made.
func (r *recordingSurface) editCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.edits
}

// silent is the tests' logger: quiet unless BACKUPBOT_TEST_VERBOSE is set.
func silent() *slog.Logger {
	if os.Getenv("BACKUPBOT_TEST_VERBOSE") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}
