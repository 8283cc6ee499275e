package main

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/bot/console/consoletest"
	"github.com/backupbot/backupbot/internal/testredis"
)

// The tests in this package run the real backupbot binary: several
// processes against one Redis, driven through the console adapter's unix
// socket, exactly as an operator would run them.

// binPath is the backupbot binary built once for the package's tests.
var binPath string

func TestMain(m *testing.M) {
	if spec := os.Getenv(delayProxyEnv); spec != "" {
		os.Exit(runDelayProxy(spec))
	}
	dir, err := os.MkdirTemp("", "backupbot-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "backupbot")
	out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building backupbot for the tests: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	backupctlOnce sync.Once
	backupctlBin  string
	backupctlErr  error
)

// backupctlPath builds the terminal tool next to the test's binaries, once.
func backupctlPath(t *testing.T) string {
	t.Helper()
	backupctlOnce.Do(func() {
		backupctlBin = filepath.Join(filepath.Dir(binPath), "backupctl")
		out, err := exec.Command("go", "build", "-o", backupctlBin, "../backupctl").CombinedOutput()
		if err != nil {
			backupctlErr = fmt.Errorf("building backupctl: %v\n%s", err, out)
		}
	})
	if backupctlErr != nil {
		t.Fatal(backupctlErr)
	}
	return backupctlBin
}

// testRedisURL returns the test-owned Redis (from `make test`) on DB db,
// emptied first.
func testRedisURL(t *testing.T, db int) string {
	t.Helper()
	testredis.Flushed(t, db)
	return testredis.URL(t, db)
}

// repoPassword is the repository password of the processes a test env
// starts: with a configuration file, a new repository needs one.
const repoPassword = "backupbot harness repository password"

// env is one test's service: a config, data, a repository, processes.
type env struct {
	t        *testing.T
	dir      string
	redisURL string
	config   string
	mu       sync.Mutex
	procs    []*proc
}

func newEnv(t *testing.T, redisURL string) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dir: dir, redisURL: redisURL, config: filepath.Join(dir, "backupbot.yaml")}
	for _, d := range []string{"data", "logs", "big", "restore"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		writeFile(t, filepath.Join(dir, "data", fmt.Sprintf("file-%d.txt", i)), []byte(strings.Repeat(fmt.Sprintf("line %d of the data target\n", i), 200)))
	}
	writeFile(t, filepath.Join(dir, "logs", "app.log"), []byte(strings.Repeat("INFO something happened\n", 500)))
	cfg := fmt.Sprintf(`storages:
  local: {type: local, path: %[1]s/repo}
targets:
  data: {paths: [%[1]s/data]}
  logs: {paths: [%[1]s/logs]}
  big: {paths: [%[1]s/big]}
console:
  user: alice
policy:
  audit: {file: %[1]s/audit.jsonl}
`, dir)
	writeFile(t, e.config, []byte(cfg))
	t.Cleanup(e.stopAll)
	return e
}

// addRandom fills a target's directory with mib files of 1 MiB of
// random (incompressible) data.
func (e *env) addRandom(target string, mib int) {
	for i := range mib {
		writeRandom(e.t, filepath.Join(e.dir, target, fmt.Sprintf("blob-%03d.bin", i)), 1<<20)
	}
}

// writeRandom writes size random (incompressible) bytes to path.
func writeRandom(t *testing.T, path string, size int) {
	t.Helper()
	b := make([]byte, size)
	_, _ = rand.Read(b)
	writeFile(t, path, b)
}

// writeFile writes path, making its directory first.
func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// configText is the env's configuration file as it is now.
func (e *env) configText() string {
	e.t.Helper()
	b, err := os.ReadFile(e.config)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
}

// proc is one running process of a test: backupbot, or a server the
// test runs beside it.
type proc struct {
	name string
	args []string // backupbot's arguments, to start it again
	cmd  *exec.Cmd
	log  *consoletest.Buffer
	done chan struct{}
}

// start runs `backupbot ARGS...` with the env's config and Redis.
func (e *env) start(name string, args ...string) *proc {
	e.t.Helper()
	full := append(append([]string{}, args[0], "--config", e.config), args[1:]...)
	p := e.startCmd(name, exec.Command(binPath, full...), []string{"REDIS_URL=" + e.redisURL, "SLACK_BOT_TOKEN=", "DISCORD_BOT_TOKEN=",
		"BACKUPBOT_REPO_PASSWORD=" + repoPassword, "BACKUPBOT_REPO_PASSWORD_FILE="})
	p.args = args
	return p
}

// startConsole starts `backupbot MODE` (serve or bot) with a console
// socket and an HTTP address of its own, and returns the process, a
// client of its console and the HTTP address.
func (e *env) startConsole(mode string, extra ...string) (*proc, *consoleClient, string) {
	e.t.Helper()
	sock := filepath.Join(e.dir, "console.sock")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(e.t))
	p := e.start(mode, append([]string{mode, "--console-socket", sock, "--no-stdin", "--http-addr", addr}, extra...)...)
	return p, dialConsole(e.t, sock), addr
}

// startCmd starts a prepared command as one of the env's processes.
func (e *env) startCmd(name string, cmd *exec.Cmd, extraEnv []string) *proc {
	e.t.Helper()
	cmd.Env = append(os.Environ(), extraEnv...)
	if cmd.Dir == "" {
		cmd.Dir = e.dir
	}
	p := &proc{name: name, cmd: cmd, log: &consoletest.Buffer{}, done: make(chan struct{})}
	cmd.Stdout = p.log
	cmd.Stderr = p.log
	if err := cmd.Start(); err != nil {
		e.t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	e.mu.Lock()
	e.procs = append(e.procs, p)
	e.mu.Unlock()
	return p
}

// stop ends a process gracefully (SIGTERM), killing it after 30 s.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// hup sends the process SIGHUP (reload the configuration).
func (p *proc) hup(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (e *env) stopAll() {
	e.mu.Lock()
	procs := append([]*proc{}, e.procs...)
	e.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(p.stop)
	}
	wg.Wait()
	if e.t.Failed() {
		for _, p := range procs {
			e.t.Logf("---- log of %s ----\n%s", p.name, tail(p.log.String(), 60))
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// console is a client of a bot process's console socket: it sends typed
// lines and keeps everything the console prints.
type consoleClient struct {
	t     *testing.T
	conn  net.Conn
	mu    sync.Mutex
	lines []string
	seen  int // lines consumed by expect
}

func dialConsole(t *testing.T, path string) *consoleClient {
	t.Helper()
	var conn net.Conn
	var err error
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if conn, err = net.Dial("unix", path); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("the bot's console socket %s never answered: %v", path, err)
	}
	c := &consoleClient{t: t, conn: conn}
	go func() {
		sc := bufio.NewScanner(conn)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			c.mu.Lock()
			c.lines = append(c.lines, sc.Text())
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return c
}

func (c *consoleClient) send(line string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(line + "\n")); err != nil {
		c.t.Fatalf("send %q to the console: %v", line, err)
	}
}

func (c *consoleClient) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string{}, c.lines...)
}

// expect waits for the next line (after those already consumed) that
// matches re, and returns its submatches.
func (c *consoleClient) expect(re *regexp.Regexp, timeout time.Duration) []string {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c.mu.Lock()
		for i := c.seen; i < len(c.lines); i++ {
			if m := re.FindStringSubmatch(c.lines[i]); m != nil {
				c.seen = i + 1
				c.mu.Unlock()
				return m
			}
		}
		c.mu.Unlock()
		if time.Now().After(deadline) {
			c.t.Fatalf("no console line matching %q within %s; console so far:\n%s", re, timeout, strings.Join(c.all(), "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var ackRe = regexp.MustCompile("^\\[reply\\] ✅ Queued as job `([0-9a-f]{8})`")

// command sends a command that must be queued and returns its job id.
func (c *consoleClient) command(text string) string {
	c.t.Helper()
	c.send(text)
	return c.expect(ackRe, 15*time.Second)[1]
}

// jobView is what the console showed for one job.
type jobView struct {
	parent        string
	progress      string   // id of the progress message
	progressPosts int      // posts of the progress message (must be 1)
	edits         int      // edits of the progress message
	thread        []string // other thread posts, in order
	parentCount   int
}

var (
	parentRe = regexp.MustCompile("^\\[(msg-\\d+)\\] 🗄 .* — job ([0-9a-f]{8})$")
	threadRe = regexp.MustCompile(`^  ↳ \[(msg-\d+) in (msg-\d+)\] (.*)$`)
	editRe   = regexp.MustCompile(`^  ↳ \[edit (msg-\d+)\] (.*)$`)
)

// views parses a console transcript into one view per job.
func views(lines []string) map[string]*jobView {
	out := map[string]*jobView{}
	byParent := map[string]*jobView{}
	byProgress := map[string]*jobView{}
	for _, l := range lines {
		if m := parentRe.FindStringSubmatch(l); m != nil {
			v := out[m[2]]
			if v == nil {
				v = &jobView{}
				out[m[2]] = v
			}
			v.parent = m[1]
			v.parentCount++
			byParent[m[1]] = v
			continue
		}
		if m := threadRe.FindStringSubmatch(l); m != nil {
			v := byParent[m[2]]
			if v == nil {
				continue
			}
			if v.progress == "" {
				v.progress = m[1]
				v.progressPosts++
				byProgress[m[1]] = v
				continue
			}
			v.thread = append(v.thread, m[3])
			continue
		}
		if m := editRe.FindStringSubmatch(l); m != nil {
			if v := byProgress[m[1]]; v != nil {
				v.edits++
			}
		}
	}
	return out
}

// waitDone waits until the job's thread shows its outcome and returns the
// outcome line.
func (c *consoleClient) waitDone(jobID string, timeout time.Duration) string {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if v := views(c.all())[jobID]; v != nil {
			for _, l := range v.thread {
				if strings.HasPrefix(l, "✅") || strings.HasPrefix(l, "⚠️") || strings.HasPrefix(l, "❌") || strings.HasPrefix(l, "⏹") {
					return l
				}
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("job %s did not finish within %s; console so far:\n%s", jobID, timeout, strings.Join(c.all(), "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readyz returns the HTTP status of /readyz and its body.
func readyz(addr string) (int, string) {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	n, _ := resp.Body.Read(buf)
	b.Write(buf[:n])
	return resp.StatusCode, b.String()
}

// freePort returns a TCP port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// redisClient is a client of the Redis at url, closed when the test ends.
func redisClient(t *testing.T, url string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
