package main

import (
	"context"
	"crypto/rand"
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

// killableRedis is a test-owned redis-server that the test kills with
// SHUTDOWN NOSAVE and starts again, with or without an append-only file.
type killableRedis struct {
	t       *testing.T
	bin     string
	dir     string
	port    int
	persist bool
	cmd     *exec.Cmd
	done    chan struct{}
}

func startKillableRedis(t *testing.T, persist bool) *killableRedis {
	t.Helper()
	bin := os.Getenv("BACKUPBOT_TEST_REDIS_SERVER")
	if bin == "" {
		t.Fatal("BACKUPBOT_TEST_REDIS_SERVER is unset: run `make test`, which installs redis-server and names it " +
			"(or `eval \"$(bash scripts/services/redis.sh start)\"`)")
	}
	s := &killableRedis{t: t, bin: bin, dir: t.TempDir(), port: freePort(t), persist: persist}
	s.start()
	t.Cleanup(func() {
		if s.cmd != nil {
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	return s
}

func (s *killableRedis) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

func (s *killableRedis) client() *redis.Client {
	opt, _ := redis.ParseURL(s.url())
	return redis.NewClient(opt)
}

func (s *killableRedis) start() {
	s.t.Helper()
	args := []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(s.port), "--dir", s.dir, "--save", ""}
	if s.persist {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	s.cmd = exec.Command(s.bin, args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.done)
	rdb := s.client()
	defer rdb.Close()
	eventually(s.t, 10*time.Second, "the test redis-server answers", func() bool {
		return rdb.Ping(context.Background()).Err() == nil
	})
}

// kill stops the server at once without saving (SHUTDOWN NOSAVE).
func (s *killableRedis) kill() {
	s.t.Helper()
	rdb := s.client()
	_ = rdb.Do(context.Background(), "SHUTDOWN", "NOSAVE").Err() // the connection drops: no reply
	rdb.Close()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.t.Fatal("redis-server did not stop after SHUTDOWN NOSAVE")
	}
	s.cmd = nil
}

// jobState reads a job's state from its record ("" when there is none).
func (s *killableRedis) jobState(id string) string {
	rdb := s.client()
	defer rdb.Close()
	st, _ := rdb.HGet(context.Background(), "backupbot:job:"+id, "state").Result()
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
	rs := startKillableRedis(t, true)
	e := newEnv(t, rs.url())
	e.makeBig(96)
	// A second big target: backups of one target run one at a time.
	buf := make([]byte, 1<<20)
	for i := range 96 {
		_, _ = rand.Read(buf)
		writeFile(t, filepath.Join(e.dir, "logs", fmt.Sprintf("blob-%03d.bin", i)), buf)
	}
	w1 := e.start("worker-1", "worker", "--concurrency", "1")
	w2 := e.start("worker-2", "worker", "--concurrency", "1")
	sock := filepath.Join(e.dir, "console.sock")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	botArgs := []string{"bot", "--console-socket", sock, "--no-stdin", "--http-addr", addr, "--edit-interval", "300ms"}
	bot := e.start("bot", botArgs...)
	c := dialConsole(t, sock)

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
		again := e.start("bot-again", botArgs...)
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
	rs := startKillableRedis(t, false)
	e := newEnv(t, rs.url())
	e.makeBig(48)
	w := e.start("worker", "worker", "--concurrency", "1")
	sock := filepath.Join(e.dir, "console.sock")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	e.start("bot", "bot", "--console-socket", sock, "--no-stdin", "--http-addr", addr, "--edit-interval", "300ms")
	c := dialConsole(t, sock)

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
