package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/internal/testredis"
)

// jobRecords counts the job records in Redis (what Enqueue creates).
func jobRecords(t *testing.T, redisURL string) int {
	t.Helper()
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	keys, err := rdb.Keys(context.Background(), "backupbot:job:*").Result()
	if err != nil {
		t.Fatalf("count job records: %v", err)
	}
	n := 0
	for _, k := range keys {
		if !strings.HasSuffix(k, ":cancel") {
			n++
		}
	}
	return n
}

// TestTwoWorkersOneBotThroughTheConsole is issue 4's points 1 and 2: two
// worker processes and one bot process on a real Redis; ten commands from
// the console adapter; then a worker SIGKILLed in the middle of a backup.
func TestTwoWorkersOneBotThroughTheConsole(t *testing.T) {
	e := newEnv(t, testRedisURL(t, testredis.DBBackupbot))
	e.makeBig(64)
	w1 := e.start("worker-1", "worker", "--concurrency", "2")
	w2 := e.start("worker-2", "worker", "--concurrency", "2")
	sock := filepath.Join(e.dir, "console.sock")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	e.start("bot", "bot", "--console-socket", sock, "--no-stdin", "--http-addr", addr, "--edit-interval", "300ms")
	c := dialConsole(t, sock)

	t.Run("ten commands", func(t *testing.T) {
		c.t = t
		want := map[string]string{}
		first := c.command("/backup create --type full --target data --name first")
		want[first] = "Backup first done"
		logs := c.command("/backup create --type full --target logs")
		want[logs] = "Backup logs-"
		second := c.command("/backup create --target data --name second")
		want[second] = "Backup second done"
		for _, id := range []string{first, logs, second} {
			if got := c.waitDone(id, 60*time.Second); !strings.HasPrefix(got, "✅ "+want[id]) {
				t.Errorf("job %s: outcome %q, want it to start with %q", id, got, "✅ "+want[id])
			}
		}
		preview := c.command("/backup restore --name first --preview")
		want[preview] = "Restore preview of"
		list := c.command("/backup list")
		want[list] = "3 backups in local"
		verify := c.command("/backup verify --all")
		want[verify] = "Verify"
		listFull := c.command("/backup list --type full --size")
		want[listFull] = "2 backups in local"
		for _, id := range []string{preview, list, verify, listFull} {
			if got := c.waitDone(id, 60*time.Second); !strings.HasPrefix(got, "✅ "+want[id]) {
				t.Errorf("job %s: outcome %q, want it to start with %q", id, got, "✅ "+want[id])
			}
		}

		// Answered at once, never enqueued.
		c.send("/backup status " + first)
		c.expect(regexp.MustCompile("^\\[reply\\] Job `"+first+"` · `create --type full --target data --name first` · succeeded$"), 10*time.Second)
		c.send("/backup list --running")
		c.expect(regexp.MustCompile(`^\[reply\] (No jobs are queued or running\.|\d+ job\(s\) queued or running:)`), 10*time.Second)

		// The bad command gets its parse error and nothing is enqueued.
		before := jobRecords(t, e.redisURL)
		c.send("/backup crate --type full")
		c.expect(regexp.MustCompile("^\\[reply\\] ⚠️ .*did you mean `create`\\?"), 10*time.Second)
		if after := jobRecords(t, e.redisURL); after != before {
			t.Errorf("a bad command enqueued something: %d job records before, %d after", before, after)
		}

		vs := views(c.all())
		for id := range want {
			v := vs[id]
			if v == nil {
				t.Errorf("job %s has no messages in the console", id)
				continue
			}
			if v.parentCount != 1 || v.progressPosts != 1 {
				t.Errorf("job %s: %d parent messages and %d progress posts, want 1 and 1", id, v.parentCount, v.progressPosts)
			}
			if v.edits < 1 {
				t.Errorf("job %s: its progress message was never edited in place", id)
			}
			t.Logf("job %s: 1 progress post, %d edits in place, %d other thread posts", id, v.edits, len(v.thread))
		}
		if len(vs) != len(want) {
			t.Errorf("the console shows %d jobs, want %d (the bad command must not make one)", len(vs), len(want))
		}
	})
	if t.Failed() {
		return
	}

	t.Run("a worker killed mid-backup", func(t *testing.T) {
		c.t = t
		id := c.command("/backup create --type full --target big --name big-one")
		var victim, survivor *proc
		eventually(t, 30*time.Second, "a worker starts the big backup", func() bool {
			for _, pair := range [][2]*proc{{w1, w2}, {w2, w1}} {
				if strings.Contains(pair[0].log.String(), "job="+id) {
					victim, survivor = pair[0], pair[1]
					return true
				}
			}
			return false
		})
		victim.kill()
		t.Logf("killed %s while it ran job %s", victim.name, id)
		if got := c.waitDone(id, 120*time.Second); !strings.HasPrefix(got, "✅ Backup big-one") {
			t.Fatalf("the killed job ended %q, want a finished backup", got)
		}
		if !strings.Contains(survivor.log.String(), "job="+id) {
			t.Errorf("%s never ran job %s", survivor.name, id)
		}
		retried := false
		for _, l := range views(c.all())[id].thread {
			retried = retried || strings.Contains(l, "is being retried")
		}
		if !retried {
			t.Errorf("the thread of job %s does not say it was retried: %q", id, views(c.all())[id].thread)
		}
		verify := c.command("/backup verify --all --deep")
		if got := c.waitDone(verify, 120*time.Second); !strings.Contains(got, "no problems found") {
			t.Fatalf("the repository does not verify clean after the kill: %q", got)
		}
	})
}

// redisServer is a test-owned redis-server with an append-only file, so a
// restart keeps what was queued.
type redisServer struct {
	t    *testing.T
	bin  string
	dir  string
	port int
	cmd  *exec.Cmd
}

func startRedisServer(t *testing.T) *redisServer {
	t.Helper()
	bin := os.Getenv("BACKUPBOT_TEST_REDIS_SERVER")
	if bin == "" {
		t.Fatal("BACKUPBOT_TEST_REDIS_SERVER is unset: run `make test`, which installs redis-server and names it " +
			"(or `eval \"$(bash scripts/services/redis.sh start)\"`)")
	}
	s := &redisServer{t: t, bin: bin, dir: t.TempDir(), port: freePort(t)}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

func (s *redisServer) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(s.port), "--dir", s.dir,
		"--appendonly", "yes", "--appendfsync", "always", "--save", "")
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	opt, _ := redis.ParseURL(s.url())
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	eventually(s.t, 10*time.Second, "the test redis-server answers", func() bool {
		return rdb.Ping(context.Background()).Err() == nil
	})
}

func (s *redisServer) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
	s.cmd = nil
}

// TestRedisOutage is issue 4's point 3: Redis stops and comes back while
// the bot is idle and while a job is queued; the service reconnects by
// itself, the queued job runs, and /readyz reports the outage meanwhile.
func TestRedisOutage(t *testing.T) {
	rs := startRedisServer(t)
	e := newEnv(t, rs.url())
	w := e.start("worker", "worker", "--concurrency", "1")
	sock := filepath.Join(e.dir, "console.sock")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	e.start("bot", "bot", "--console-socket", sock, "--no-stdin", "--http-addr", addr, "--edit-interval", "300ms")
	c := dialConsole(t, sock)
	eventually(t, 15*time.Second, "/readyz says ready", func() bool { code, _ := readyz(addr); return code == 200 })
	if got := c.waitDone(c.command("/backup list"), 30*time.Second); !strings.HasPrefix(got, "✅") {
		t.Fatalf("before the outage: %q", got)
	}

	t.Run("while idle", func(t *testing.T) {
		c.t = t
		rs.stop()
		var body string
		eventually(t, 15*time.Second, "/readyz reports the outage", func() bool {
			var code int
			code, body = readyz(addr)
			return code == 503
		})
		if !strings.Contains(body, `"redis"`) || strings.Contains(body, `"redis":"ok"`) {
			t.Errorf("/readyz during the outage does not name Redis: %s", body)
		}
		c.send("/backup list")
		c.expect(regexp.MustCompile(`^\[reply\] ⚠️ The job queue is unavailable right now`), 30*time.Second)

		rs.start()
		eventually(t, 30*time.Second, "/readyz says ready again", func() bool { code, _ := readyz(addr); return code == 200 })
		if got := c.waitDone(c.command("/backup list"), 60*time.Second); !strings.HasPrefix(got, "✅") {
			t.Fatalf("after the outage: %q", got)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("while a job is queued", func(t *testing.T) {
		c.t = t
		w.stop() // nobody to run it: the job stays queued through the outage
		id := c.command("/backup create --type full --target data --name queued-through-outage")
		rs.stop()
		eventually(t, 15*time.Second, "/readyz reports the outage", func() bool { code, _ := readyz(addr); return code == 503 })
		rs.start()
		eventually(t, 30*time.Second, "/readyz says ready again", func() bool { code, _ := readyz(addr); return code == 200 })
		e.start("worker-2", "worker", "--concurrency", "1")
		if got := c.waitDone(id, 60*time.Second); !strings.HasPrefix(got, "✅ Backup queued-through-outage done") {
			t.Fatalf("the job queued through the outage ended %q", got)
		}
	})
}

// TestServeWithEmbeddedDefaults is issue 4's point 4 (`make run` on a fresh
// machine): no configuration, no REDIS_URL; a create shows the ack, a
// progress message and the summary, and a restore preview shows the plan.
func TestServeWithEmbeddedDefaults(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "console.sock")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(binPath, "serve", "--console-socket", sock, "--no-stdin", "--http-addr", addr)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "REDIS_URL=", "BACKUPBOT_CONFIG=", "SLACK_BOT_TOKEN=", "DISCORD_BOT_TOKEN=", "BACKUPBOT_REPO_PASSWORD=", "BACKUPBOT_REPO_PASSWORD_FILE=", "USER=alice")
	log := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("serve did not stop within 30 s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("---- serve log ----\n%s", tail(log.String(), 60))
		}
	}()
	c := dialConsole(t, sock)
	id := c.command("/backup create --type full --target data")
	got := c.waitDone(id, 60*time.Second)
	m := regexp.MustCompile(`^✅ Backup (\S+) done`).FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("create outcome %q, want a finished backup", got)
	}
	preview := c.command("/backup restore --name " + m[1] + " --preview")
	if got := c.waitDone(preview, 60*time.Second); !strings.HasPrefix(got, "✅ Restore preview of") {
		t.Fatalf("preview outcome %q", got)
	}
	transcript := strings.Join(c.all(), "\n")
	for _, want := range []string{"Plan: ", "README.txt", "nothing was written"} {
		if !strings.Contains(transcript, want) {
			t.Errorf("the preview does not show %q:\n%s", want, transcript)
		}
	}
	if !strings.Contains(log.String(), "EMBEDDED in-memory Redis") {
		t.Error("no loud warning that the embedded Redis loses queued jobs")
	}
	// No password configured: the embedded defaults generate one (0600),
	// say where it is and that it must be kept, and the repository is
	// encrypted with it.
	pwFile := filepath.Join(dir, "var", "repo-password")
	if fi, err := os.Stat(pwFile); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() < 32 {
		t.Errorf("the generated password file %s: %v, %v; want a 0600 file with a random password", pwFile, fi, err)
	}
	if !strings.Contains(log.String(), "🔑 generated a random repository password in "+pwFile) ||
		!regexp.MustCompile(`level=WARN msg="generated a random repository password in `+regexp.QuoteMeta(pwFile)+`.*KEEP THIS FILE`).MatchString(log.String()) {
		t.Errorf("serve does not name the generated password file %s and say to keep it on the console and in the log", pwFile)
	}
	if cfg, err := os.ReadFile(filepath.Join(dir, "var", "repo", "config")); err != nil || !strings.Contains(string(cfg), `"encryption": "aes-256-gcm"`) {
		t.Errorf("the repository of the embedded defaults is not encrypted: %s %v", cfg, err)
	}
	if code, body := readyz(addr); code != 200 {
		t.Errorf("/readyz = %d %s", code, body)
	}
	t.Logf("transcript:\n%s", transcript)
}

// TestSighupReloadsThePolicy: a policy change is in force after SIGHUP,
// without a restart; a file that does not parse is refused and the policy
// in force stays.
func TestSighupReloadsThePolicy(t *testing.T) {
	e := newEnv(t, testRedisURL(t, testredis.DBBackupbot))
	sock := filepath.Join(e.dir, "console.sock")
	botProc := e.start("bot", "bot", "--console-socket", sock, "--no-stdin", "--http-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	c := dialConsole(t, sock)
	c.command("/backup create --target data") // alice is admin by the default bindings

	cfg, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	viewerOnly := strings.Replace(string(cfg), "policy:\n", "policy:\n  bindings:\n    viewer: [\"console:*\"]\n", 1)
	writeFile(t, e.config, []byte(viewerOnly))
	if err := botProc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the bot reloads its policy", func() bool {
		return strings.Contains(botProc.log.String(), "policy and configuration reloaded")
	})
	c.send("/backup create --target data")
	c.expect(regexp.MustCompile(`^\[reply\] ⛔ Not allowed: .*operator`), 10*time.Second)

	writeFile(t, e.config, []byte(viewerOnly+"  roles: [this is not a map\n"))
	if err := botProc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the bot refuses the broken policy", func() bool {
		return strings.Contains(botProc.log.String(), "the new configuration was refused (policy included); the old one stays in force")
	})
	if !regexp.MustCompile(`backupbot\.yaml(:\d+|: .*line \d+)`).MatchString(botProc.log.String()) {
		t.Errorf("the refusal does not name the line:\n%s", tail(botProc.log.String(), 5))
	}
	c.send("/backup create --target data")
	c.expect(regexp.MustCompile(`^\[reply\] ⛔ Not allowed`), 10*time.Second)
	c.command("/backup list") // viewers may still list
}
