package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/internal/testredis"
)

// TestDeepVerifyOfADamagedRepositoryFailsThroughTheConsole is issue 10's
// point 7: through the console adapter, with a real Redis and worker, a
// deep verify of a repository with one damaged data pack ends ❌ as a
// failed job that names the damaged file and its snapshot, with no Retry
// button (running it again finds the same), and status says failed.
func TestDeepVerifyOfADamagedRepositoryFailsThroughTheConsole(t *testing.T) {
	e := newEnv(t, testRedisURL(t, testredis.DBBackupbot))
	random := make([]byte, 256<<10)
	_, _ = rand.Read(random)
	writeFile(t, filepath.Join(e.dir, "data", "random.bin"), random)
	sock := filepath.Join(e.dir, "console.sock")
	e.start("serve", "serve", "--console-socket", sock, "--no-stdin", "--http-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	c := dialConsole(t, sock)

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
