package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/internal/testredis"
	"github.com/backupbot/backupbot/storage/engine/enginetest/fidelity"
)

// jobRecords counts the job records in Redis (what Enqueue creates).
func jobRecords(t *testing.T, redisURL string) int {
	t.Helper()
	keys, err := redisClient(t, redisURL).Keys(context.Background(), "backupbot:job:*").Result()
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
	e.addRandom("big", 64)
	w1 := e.start("worker-1", "worker", "--concurrency", "2")
	w2 := e.start("worker-2", "worker", "--concurrency", "2")
	_, c, _ := e.startConsole("bot", "--edit-interval", "300ms")

	t.Run("ten commands", func(t *testing.T) {
		c.t = t
		// queue sends the commands (command, outcome after ✅), then waits
		// for each job to end with its outcome, and returns the job ids.
		want := map[string]string{}
		queue := func(commands ...[2]string) []string {
			var ids []string
			for _, cmd := range commands {
				id := c.command(cmd[0])
				want[id] = cmd[1]
				ids = append(ids, id)
			}
			for _, id := range ids {
				if got := c.waitDone(id, 60*time.Second); !strings.HasPrefix(got, "✅ "+want[id]) {
					t.Errorf("job %s: outcome %q, want it to start with %q", id, got, "✅ "+want[id])
				}
			}
			return ids
		}
		first := queue(
			[2]string{"/backup create --type full --target data --name first", "Backup first done"},
			[2]string{"/backup create --type full --target logs", "Backup logs-"},
			[2]string{"/backup create --target data --name second", "Backup second done"},
		)[0]
		queue(
			[2]string{"/backup restore --name first --preview", "Restore preview of"},
			[2]string{"/backup list", "3 backups in local"},
			[2]string{"/backup verify --all", "Verify"},
			[2]string{"/backup list --type full --size", "2 backups in local"},
		)

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

// TestPartialBackupThroughTheConsole: through the real service (serve,
// console adapter, Redis queue, worker), a backup that cannot read one
// file ends with ⚠️, not ✅, and names that file; list marks the
// snapshot partial.
func TestPartialBackupThroughTheConsole(t *testing.T) {
	e := newEnv(t, testRedisURL(t, testredis.DBBackupbot))
	bad, err := fidelity.Unreadable(filepath.Join(e.dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	_, c, _ := e.startConsole("serve")
	id := c.command("/backup create --type full --target data")
	got := c.waitDone(id, 90*time.Second)
	if !strings.HasPrefix(got, "⚠️ Backup ") || !strings.Contains(got, "PARTIAL: 1 file could not be read") {
		t.Fatalf("outcome %q, want ⚠️ and a partial backup of one unreadable file", got)
	}
	transcript := strings.Join(c.all(), "\n")
	if !strings.Contains(transcript, filepath.Base(bad)+": lstat: file name too long") {
		t.Fatalf("the result does not name the unreadable file:\n%s", transcript)
	}
	if strings.Contains(transcript, "✅ Done") {
		t.Errorf("the progress message says ✅ for a partial backup:\n%s", transcript)
	}
	list := c.command("/backup list")
	c.waitDone(list, 30*time.Second)
	c.expect(regexp.MustCompile(`full \(partial\)`), 10*time.Second)
	t.Logf("transcript:\n%s", strings.Join(c.all(), "\n"))
}

// TestDeepVerifyOfADamagedRepositoryFailsThroughTheConsole is issue 10's
// point 7: through the console adapter, with a real Redis and worker, a
// deep verify of a repository with one damaged data pack ends ❌ as a
// failed job that names the damaged file and its snapshot, with no Retry
// button (running it again finds the same), and status says failed.
func TestDeepVerifyOfADamagedRepositoryFailsThroughTheConsole(t *testing.T) {
	e := newEnv(t, testRedisURL(t, testredis.DBBackupbot))
	writeRandom(t, filepath.Join(e.dir, "data", "random.bin"), 256<<10)
	_, c, _ := e.startConsole("serve")

	id := c.command("/backup create --type full --target data --name v1")
	if got := c.waitDone(id, 60*time.Second); !strings.HasPrefix(got, "✅ Backup v1 done") {
		t.Fatalf("create: %q", got)
	}
	id = c.command("/backup verify --name v1 --deep")
	if got := c.waitDone(id, 60*time.Second); !strings.HasPrefix(got, "✅ Verify") {
		t.Fatalf("deep verify of a healthy repository: %q", got)
	}

	// Flip bytes in one data pack: the largest, which holds random.bin.
	var pack string
	var size int64
	_ = filepath.Walk(filepath.Join(e.dir, "repo", "data"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && fi.Size() > size {
			pack, size = p, fi.Size()
		}
		return nil
	})
	if pack == "" {
		t.Fatal("no data pack to damage")
	}
	b, err := os.ReadFile(pack)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(b) / 3; i < len(b)/3+16; i++ {
		b[i] ^= 0xff
	}
	writeFile(t, pack, b)

	id = c.command("/backup verify --name v1 --deep")
	got := c.waitDone(id, 60*time.Second)
	if !strings.HasPrefix(got, "❌") {
		t.Fatalf("deep verify of a damaged repository ended %q; want ❌", got)
	}
	transcript := strings.Join(c.all(), "\n")
	failure := transcript[strings.Index(transcript, got):]
	for _, want := range []string{"failed", "snapshot v1", "random.bin", "PROBLEMS"} {
		if !strings.Contains(failure, want) {
			t.Errorf("the failed verify does not say %q:\n%s", want, failure)
		}
	}
	if strings.Contains(transcript, "[retry "+id+"]") {
		t.Errorf("the failed verify offers Retry, which can only find the same damage:\n%s", failure)
	}
	c.send("/backup status " + id)
	c.expect(regexp.MustCompile("^\\[reply\\] Job `"+id+"` .* · failed"), 15*time.Second)
	t.Logf("transcript:\n%s", transcript)
}
