package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/internal/testredis"
	"github.com/backupbot/backupbot/storage/engine/enginetest/fidelity"
)

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
	sock := filepath.Join(e.dir, "console.sock")
	e.start("serve", "serve", "--console-socket", sock, "--no-stdin", "--http-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	c := dialConsole(t, sock)
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
