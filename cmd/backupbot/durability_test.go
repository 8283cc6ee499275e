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
)

// The tests in this file take Redis away under a running service: killed
// with and without an append-only file, stopped and started again, a
// Sentinel failover.

// redisServerBin is the redis-server binary (`make test` exports its path).
func redisServerBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("BACKUPBOT_TEST_REDIS_SERVER"); p != "" {
		return p
	}
	p, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server is not installed: run `make test` (scripts/services/redis.sh installs it from Debian)")
	}
	return p
}

// The persistence of a test's redis-server: an append-only file synced at
// every write (a restart keeps what was queued), or nothing at all.
var (
	aofAlways     = []string{"--appendonly", "yes", "--appendfsync", "always"}
	noPersistence = []string{"--appendonly", "no"}
)

// redisServer is a test-owned redis-server on a loopback port, started
// with args beside the defaults (no RDB snapshots). The test stops it
// (SIGTERM) or kills it (SHUTDOWN NOSAVE) and starts it again.
type redisServer struct {
	t    *testing.T
	bin  string
	dir  string
	port int
	args []string
	rdb  *redis.Client // the test's own client
	cmd  *exec.Cmd
	done chan struct{}
}

func startRedisServer(t *testing.T, args ...string) *redisServer {
	t.Helper()
	s := &redisServer{t: t, bin: redisServerBin(t), dir: t.TempDir(), port: freePort(t), args: args}
	s.rdb = redisClient(t, s.url())
	s.start()
	t.Cleanup(func() {
		if s.cmd != nil {
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	return s
}

func (s *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

func (s *redisServer) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, append([]string{"--bind", "127.0.0.1", "--port", strconv.Itoa(s.port), "--dir", s.dir, "--save", ""}, s.args...)...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.done)
	eventually(s.t, 10*time.Second, "the test redis-server answers", func() bool {
		return s.rdb.Ping(context.Background()).Err() == nil
	})
}

// stop ends the server gracefully (SIGTERM).
func (s *redisServer) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	<-s.done
	s.cmd = nil
}

// kill stops the server at once without saving (SHUTDOWN NOSAVE).
func (s *redisServer) kill() {
	s.t.Helper()
	_ = s.rdb.Do(context.Background(), "SHUTDOWN", "NOSAVE").Err() // the connection drops: no reply
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.t.Fatal("redis-server did not stop after SHUTDOWN NOSAVE")
	}
	s.cmd = nil
}

// jobState reads a job's state from its record ("" when there is none).
func (s *redisServer) jobState(id string) string {
	st, _ := s.rdb.HGet(context.Background(), "backupbot:job:"+id, "state").Result()
	return st
}

// waitStarted waits until some worker's log says it started job id.
func waitStarted(t *testing.T, id string, workers ...*proc) {
	t.Helper()
	eventually(t, 60*time.Second, "a worker starts job "+id, func() bool {
		for _, w := range workers {
			if strings.Contains(w.log.String(), "job="+id) && strings.Contains(w.log.String(), "job started") {
				return true
			}
		}
		return false
	})
}

// TestRedisKilledDuringBackupsWithAOF is issue 11's point 5 with a
// persistent Redis: Redis is killed (SHUTDOWN NOSAVE) while two backups
// run and started again from its append-only file; every accepted job
// finishes or is reported failed in its thread. Then a bot stopped during
// a job posts the result after it restarts.
func TestRedisKilledDuringBackupsWithAOF(t *testing.T) {
	rs := startRedisServer(t, aofAlways...)
	e := newEnv(t, rs.url())
	e.addRandom("big", 96)
	// A second big target: backups of one target run one at a time.
	e.addRandom("logs", 96)
	w1 := e.start("worker-1", "worker", "--concurrency", "1")
	w2 := e.start("worker-2", "worker", "--concurrency", "1")
	bot, c, _ := e.startConsole("bot", "--edit-interval", "300ms")

	ids := []string{
		c.command("/backup create --type full --target big --name aof-1"),
		c.command("/backup create --type full --target logs --name aof-2"),
		c.command("/backup create --type full --target data --name aof-3"),
	}
	// Freeze both workers as soon as both backups run, so Redis surely
	// dies under two running jobs; they run on through the outage.
	eventually(t, 60*time.Second, "both backups run", func() bool {
		return rs.jobState(ids[0]) == "active" && rs.jobState(ids[1]) == "active"
	})
	for _, w := range []*proc{w1, w2} {
		_ = w.cmd.Process.Signal(syscall.SIGSTOP)
	}
	if a, b := rs.jobState(ids[0]), rs.jobState(ids[1]); a != "active" || b != "active" {
		t.Fatalf("the backups were not both running when Redis was killed: %s, %s", a, b)
	}
	rs.kill()
	for _, w := range []*proc{w1, w2} {
		_ = w.cmd.Process.Signal(syscall.SIGCONT)
	}
	t.Log("Redis killed with SHUTDOWN NOSAVE while two backups ran")
	time.Sleep(3 * time.Second)
	rs.start()
	for _, id := range ids {
		got := c.waitDone(id, 120*time.Second)
		if !strings.HasPrefix(got, "✅") && !strings.HasPrefix(got, "❌") {
			t.Errorf("job %s ended %q, want a result or a failure in its thread", id, got)
		}
		t.Logf("job %s: %s", id, got)
	}
	if t.Failed() {
		return
	}

	t.Run("a bot stopped during a job posts the result after it restarts", func(t *testing.T) {
		c.t = t
		// No worker while the command is queued, so the job surely runs
		// and ends while the bot is down.
		w1.stop()
		w2.stop()
		id := c.command("/backup create --type full --target data --name while-the-bot-was-down")
		bot.stop()
		e.start("worker-3", "worker", "--concurrency", "1")
		eventually(t, 120*time.Second, "the job finishes while the bot is down", func() bool {
			return rs.jobState(id) == "succeeded"
		})
		again := e.start("bot-again", bot.args...)
		// The console prints to its stdout as well as to socket clients.
		done := regexp.MustCompile(`\[msg-\d+ in msg-\d+\] ✅ Backup while-the-bot-was-down done`)
		eventually(t, 30*time.Second, "the restarted bot posts the result into the job's thread", func() bool {
			return done.MatchString(again.log.String())
		})
	})
}

// TestRedisWithoutPersistenceLosesJobsAndSaysSo is issue 11's point 5
// with a Redis that keeps nothing: killed while one backup runs and two
// wait; the running one still reports its outcome, and the thread of every
// lost job says it was lost and the exact command to run it again.
func TestRedisWithoutPersistenceLosesJobsAndSaysSo(t *testing.T) {
	rs := startRedisServer(t, noPersistence...)
	e := newEnv(t, rs.url())
	e.addRandom("big", 48)
	w := e.start("worker", "worker", "--concurrency", "1")
	_, c, addr := e.startConsole("bot", "--edit-interval", "300ms")

	running := c.command("/backup create --type full --target big --name runs")
	waitStarted(t, running, w)
	lost := []string{
		c.command("/backup create --type full --target data --name waits-1"),
		c.command("/backup create --type full --target logs --name waits-2"),
	}
	rs.kill()
	rs.start()
	t.Log("Redis killed with SHUTDOWN NOSAVE and started again empty")

	if got := c.waitDone(running, 120*time.Second); !strings.HasPrefix(got, "✅") && !strings.HasPrefix(got, "❌") {
		t.Errorf("the running job %s ended %q, want a result or a failure", running, got)
	}
	want := map[string]string{
		lost[0]: "rerun with `/backup create --type full --target data --name waits-1`",
		lost[1]: "rerun with `/backup create --type full --target logs --name waits-2`",
	}
	for _, id := range lost {
		got := c.waitDone(id, 60*time.Second)
		if !strings.HasPrefix(got, "❌") || !strings.Contains(got, "lost when Redis restarted without persistence") || !strings.Contains(got, want[id]) {
			t.Errorf("the thread of lost job %s says %q, want that it was lost and %q", id, got, want[id])
		}
	}
	if code, body := readyz(addr); code != 200 || !strings.Contains(body, "no persistence") {
		t.Errorf("/readyz = %d %s; want it to warn that Redis has no persistence", code, body)
	}
}

// TestRedisOutage is issue 4's point 3: Redis stops and comes back while
// the bot is idle and while a job is queued; the service reconnects by
// itself, the queued job runs, and /readyz reports the outage meanwhile.
func TestRedisOutage(t *testing.T) {
	rs := startRedisServer(t, aofAlways...)
	e := newEnv(t, rs.url())
	w := e.start("worker", "worker", "--concurrency", "1")
	_, c, addr := e.startConsole("bot", "--edit-interval", "300ms")
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

// TestSentinelFailover is issue 16's point 3: a Redis master, a replica
// and three Sentinels (real redis-server processes on test-chosen loopback
// ports), backupbot's bot and worker on REDIS_URL=redis-sentinel://...;
// the master is SIGKILLed while jobs run. The Sentinels promote the
// replica, the service follows it, every accepted job finishes, and the
// thread of a job caught in the switch says what happened to it.
func TestSentinelFailover(t *testing.T) {
	bin := redisServerBin(t)
	dir := t.TempDir()
	e := &env{t: t, dir: dir, config: filepath.Join(dir, "backupbot.yaml")}
	t.Cleanup(e.stopAll)

	pm, pr := freePort(t), freePort(t)
	base := []string{"--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--protected-mode", "no"}
	mkdir := func(name string) string {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	master := e.startCmd("redis-master", exec.Command(bin, append([]string{"--port", fmt.Sprint(pm), "--dir", mkdir("master")}, base...)...), nil)
	e.startCmd("redis-replica", exec.Command(bin, append([]string{"--port", fmt.Sprint(pr), "--dir", mkdir("replica"),
		"--replicaof", "127.0.0.1", fmt.Sprint(pm)}, base...)...), nil)
	replica := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", pr)})
	defer replica.Close()
	eventually(t, 30*time.Second, "the replica is in sync with the master", func() bool {
		info, err := replica.Info(context.Background(), "replication").Result()
		return err == nil && strings.Contains(info, "master_link_status:up")
	})

	var sentinels []string
	for i := range 3 {
		ps := freePort(t)
		conf := filepath.Join(mkdir(fmt.Sprintf("sentinel%d", i)), "sentinel.conf")
		writeFile(t, conf, []byte(fmt.Sprintf(`port %d
bind 127.0.0.1
protected-mode no
dir %s
sentinel monitor mymaster 127.0.0.1 %d 2
sentinel down-after-milliseconds mymaster 1000
sentinel failover-timeout mymaster 10000
sentinel parallel-syncs mymaster 1
`, ps, filepath.Dir(conf), pm)))
		e.startCmd(fmt.Sprintf("sentinel-%d", i), exec.Command(bin, conf, "--sentinel"), nil)
		sentinels = append(sentinels, fmt.Sprintf("127.0.0.1:%d", ps))
	}
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinels[0]})
	defer sc.Close()
	eventually(t, 30*time.Second, "the sentinels see the master, the replica and each other", func() bool {
		reps, err := sc.Replicas(context.Background(), "mymaster").Result()
		if err != nil || len(reps) == 0 {
			return false
		}
		others, err := sc.Sentinels(context.Background(), "mymaster").Result()
		return err == nil && len(others) == 2
	})

	// The service: one bot and two workers on the Sentinel URL, a local
	// repository, four targets of random data (a few seconds per backup).
	url := "redis-sentinel://" + strings.Join(sentinels, ",") + "/mymaster?db=0"
	e.redisURL = url
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "storages:\n  local: {type: local, path: %s/repo}\ntargets:\n", dir)
	for i := range 4 {
		name := fmt.Sprintf("b%d", i)
		mkdir(filepath.Join("data", name))
		for f := range 6 {
			buf := make([]byte, 1<<20)
			for j := range buf {
				buf[j] = byte((j*31 + f*7 + i*13) ^ (j >> 7))
			}
			writeFile(t, filepath.Join(dir, "data", name, fmt.Sprintf("f%d.bin", f)), buf)
		}
		fmt.Fprintf(&cfg, "  %s: {paths: [%s/data/%s]}\n", name, dir, name)
	}
	cfg.WriteString("console:\n  user: alice\npolicy:\n  audit: {file: \"-\"}\n")
	writeFile(t, e.config, []byte(cfg.String()))
	w1 := e.start("worker-1", "worker", "--concurrency", "2")
	w2 := e.start("worker-2", "worker", "--concurrency", "2")
	bot, c, _ := e.startConsole("bot")

	var ids []string
	for i := range 8 {
		ids = append(ids, c.command(fmt.Sprintf("/backup create --target b%d --type full", i%4)))
	}
	// Every acknowledged write is on the replica before the kill (Redis
	// replication is asynchronous: see the README on what a crash can lose).
	mc := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", pm)})
	defer mc.Close()
	eventually(t, 10*time.Second, "the replica has every write of the master", func() bool {
		mo, err1 := mc.Do(context.Background(), "INFO", "replication").Text()
		ro, err2 := replica.Info(context.Background(), "replication").Result()
		return err1 == nil && err2 == nil && offset(mo, "master_repl_offset") == offset(ro, "slave_repl_offset") && offset(mo, "master_repl_offset") != ""
	})
	eventually(t, 30*time.Second, "a job runs", func() bool {
		return strings.Contains(w1.log.String(), "job started") || strings.Contains(w2.log.String(), "job started")
	})
	master.kill()
	killedAt := time.Now()
	t.Logf("killed the Redis master (port %d) with jobs running", pm)

	eventually(t, 60*time.Second, "the sentinels promote the replica", func() bool {
		addr, err := sc.GetMasterAddrByName(context.Background(), "mymaster").Result()
		return err == nil && len(addr) == 2 && addr[1] == fmt.Sprint(pr)
	})
	t.Logf("failover done %s after the kill: the master is now port %d", time.Since(killedAt).Round(time.Millisecond), pr)

	// The bot answers on the new master, and accepts new work.
	c.send("/backup status " + ids[0])
	c.expect(regexp.MustCompile("^\\[reply\\] Job `"+ids[0]+"` · "), 30*time.Second)
	ids = append(ids, c.command("/backup create --target b0 --type full"))

	caught := 0
	for _, id := range ids {
		if got := c.waitDone(id, 180*time.Second); !strings.HasPrefix(got, "✅ Backup") {
			t.Errorf("job %s did not succeed across the failover: %q", id, got)
		}
		v := views(c.all())[id]
		for _, l := range v.thread {
			if strings.HasPrefix(l, "↻") {
				caught++
				// A retry line names the cause, not just "retrying".
				if !regexp.MustCompile(`retried: .{20,}`).MatchString(l) {
					t.Errorf("job %s: the thread's retry line does not say what happened: %q", id, l)
				}
				t.Logf("job %s caught in the switch: %s", id, l)
			}
		}
	}
	t.Logf("%d jobs all succeeded; %d retry notices in their threads", len(ids), caught)
	for _, p := range []*proc{w1, w2, bot} {
		select {
		case <-p.done:
			t.Errorf("%s exited during the failover:\n%s", p.name, tail(p.log.String(), 30))
		default:
		}
	}
}

// offset reads one "key:value" field of an INFO answer.
func offset(info, key string) string {
	for l := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), key+":"); ok {
			return v
		}
	}
	return ""
}
