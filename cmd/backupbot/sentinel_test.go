package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

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
	sock := filepath.Join(dir, "console.sock")
	bot := e.start("bot", "bot", "--console-socket", sock, "--no-stdin", "--http-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	c := dialConsole(t, sock)

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
