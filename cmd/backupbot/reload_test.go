package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backupbot/backupbot/internal/testredis"
)

// TestOneSighupReloadsEveryProcess is issue 11's point 9: one SIGHUP to
// the bot changes the policy in the bot and in both workers; /readyz shows
// every process on the new configuration version.
func TestOneSighupReloadsEveryProcess(t *testing.T) {
	e := newEnv(t, testRedisURL(t, testredis.DBBackupbot))
	w1 := e.start("worker-1", "worker", "--concurrency", "1")
	w2 := e.start("worker-2", "worker", "--concurrency", "1")
	sock := filepath.Join(e.dir, "console.sock")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	botProc := e.start("bot", "bot", "--console-socket", sock, "--no-stdin", "--http-addr", addr)
	c := dialConsole(t, sock)
	versionsOf := func() map[string]string {
		_, body := readyz(addr)
		var r struct {
			ConfigVersions map[string]string `json:"config_versions"`
		}
		_ = json.Unmarshal([]byte(body), &r)
		return r.ConfigVersions
	}
	eventually(t, 20*time.Second, "/readyz lists the bot and both workers", func() bool { return len(versionsOf()) == 3 })
	oldVersion := configVersion(e.config)
	for p, v := range versionsOf() {
		if !strings.HasPrefix(v, oldVersion) {
			t.Fatalf("process %s runs %s, want %s", p, v, oldVersion)
		}
	}
	if got := c.waitDone(c.command("/backup create --target data"), 60*time.Second); !strings.HasPrefix(got, "✅") {
		t.Fatalf("before the reload: %q", got)
	}

	cfg, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	viewerOnly := strings.Replace(string(cfg), "policy:\n", "policy:\n  bindings:\n    viewer: [\"console:*\"]\n", 1)
	writeFile(t, e.config, []byte(viewerOnly))
	newVersion := configVersion(e.config)
	if err := botProc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*proc{botProc, w1, w2} {
		eventually(t, 15*time.Second, p.name+" reloads its policy", func() bool {
			return strings.Contains(p.log.String(), "policy and configuration reloaded") &&
				strings.Contains(p.log.String(), "version="+newVersion)
		})
	}
	for _, w := range []*proc{w1, w2} {
		if !strings.Contains(w.log.String(), "trigger=\"announced by") {
			t.Errorf("%s reloaded, but not because the bot announced it:\n%s", w.name, tail(w.log.String(), 5))
		}
	}
	eventually(t, 15*time.Second, "/readyz shows every process on the new version", func() bool {
		vs := versionsOf()
		if len(vs) != 3 {
			return false
		}
		for _, v := range vs {
			if !strings.HasPrefix(v, newVersion) {
				return false
			}
		}
		return true
	})
	c.send("/backup create --target data")
	c.expect(regexp.MustCompile(`^\[reply\] ⛔ Not allowed: .*operator`), 10*time.Second)
}
