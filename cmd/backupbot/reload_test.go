package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/internal/testredis"
)

// configVersionsAt is /readyz's config_versions: each process and the
// configuration version it runs.
func configVersionsAt(addr string) map[string]string {
	_, body := readyz(addr)
	var r struct {
		ConfigVersions map[string]string `json:"config_versions"`
	}
	_ = json.Unmarshal([]byte(body), &r)
	return r.ConfigVersions
}

// allOnVersion reports whether /readyz lists n processes, all running
// the configuration version given.
func allOnVersion(addr string, n int, version string) bool {
	vs := configVersionsAt(addr)
	if len(vs) != n {
		return false
	}
	for _, v := range vs {
		if !strings.HasPrefix(v, version) {
			return false
		}
	}
	return true
}

// TestOneSighupReloadsEveryProcess is issue 11's point 9: one SIGHUP to
// the bot changes the policy in the bot and in both workers; /readyz shows
// every process on the new configuration version.
func TestOneSighupReloadsEveryProcess(t *testing.T) {
	e := newEnv(t, testRedisURL(t, testredis.DBBackupbot))
	w1 := e.start("worker-1", "worker", "--concurrency", "1")
	w2 := e.start("worker-2", "worker", "--concurrency", "1")
	botProc, c, addr := e.startConsole("bot")
	versionsOf := func() map[string]string { return configVersionsAt(addr) }
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

	cfg := e.configText()
	viewerOnly := strings.Replace(cfg, "policy:\n", "policy:\n  bindings:\n    viewer: [\"console:*\"]\n", 1)
	writeFile(t, e.config, []byte(viewerOnly))
	newVersion := configVersion(e.config)
	botProc.hup(t)
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
	eventually(t, 15*time.Second, "/readyz shows every process on the new version", func() bool { return allOnVersion(addr, 3, newVersion) })
	c.send("/backup create --target data")
	c.expect(regexp.MustCompile(`^\[reply\] ⛔ Not allowed: .*operator`), 10*time.Second)
}

// TestReloadSwapsOneSnapshotOrNothing is issue 12's point 3: SIGHUP adding
// a target makes the next console command naming it accepted and run by a
// worker; a reload of a file with one bad key changes nothing anywhere:
// /readyz's config versions, what the parser accepts, what workers run.
func TestReloadSwapsOneSnapshotOrNothing(t *testing.T) {
	e := newEnv(t, testRedisURL(t, testredis.DBBackupbot))
	for _, d := range []string{"extra", "extra2"} {
		writeFile(t, filepath.Join(e.dir, d, "notes.txt"), []byte("the "+d+" target\n"))
	}
	w := e.start("worker", "worker", "--concurrency", "1")
	botProc, c, addr := e.startConsole("bot")
	allOn := func(version string) bool { return allOnVersion(addr, 2, version) }
	eventually(t, 20*time.Second, "/readyz lists the bot and the worker", func() bool { return allOn(configVersion(e.config)) })
	refusedAtTheDoor := func(text, want string) {
		t.Helper()
		c.send(text)
		got := c.expect(regexp.MustCompile(`^\[reply\] .*`), 10*time.Second)[0]
		if !strings.HasPrefix(got, "[reply] ⚠️") || !strings.Contains(got, want) || strings.Contains(got, "Queued") {
			t.Fatalf("%s: got %q; want an immediate refusal naming %q and no job", text, got, want)
		}
	}
	refusedAtTheDoor("/backup create --target extra", "extra")

	// Add the target; one SIGHUP to the bot reloads the bot and the worker.
	base := e.configText()
	withExtra := strings.Replace(base, "targets:\n", fmt.Sprintf("targets:\n  extra: {paths: [%s/extra]}\n", e.dir), 1)
	withExtra = strings.Replace(withExtra, "storages:\n", fmt.Sprintf("storages:\n  spare: {type: local, path: %s/spare}\n", e.dir), 1)
	writeFile(t, e.config, []byte(withExtra))
	good := configVersion(e.config)
	botProc.hup(t)
	eventually(t, 15*time.Second, "/readyz shows the bot and the worker on the new version", func() bool { return allOn(good) })
	if _, body := readyz(addr); !strings.Contains(body, `"storage spare":"ok"`) {
		t.Errorf("/readyz does not probe the storage the reload added: %s", body)
	}
	if got := c.waitDone(c.command("/backup create --target extra"), 60*time.Second); !strings.HasPrefix(got, "✅") {
		t.Fatalf("a create of the target the reload added: %q", got)
	}

	// One bad key beside a second new target: refused by the bot and by
	// the worker (each told directly), nothing changes anywhere.
	bad := strings.Replace(withExtra, "targets:\n", fmt.Sprintf("targets:\n  extra2: {paths: [%s/extra2]}\n", e.dir), 1)
	bad = strings.Replace(bad, "storages:\n", fmt.Sprintf("storages:\n  spare2: {type: local, path: %s/spare2}\n", e.dir), 1)
	bad = strings.Replace(bad, "console:\n", "consle: {user: mallory}\nconsole:\n", 1)
	writeFile(t, e.config, []byte(bad))
	for _, p := range []*proc{botProc, w} {
		p.hup(t)
	}
	for _, p := range []*proc{botProc, w} {
		eventually(t, 15*time.Second, p.name+" refuses the file with the bad key", func() bool {
			return strings.Contains(p.log.String(), "the new configuration was refused") && strings.Contains(p.log.String(), `unknown key \"consle\"`)
		})
	}
	time.Sleep(procEvery + time.Second) // a registration round: no process may report the bad file's version
	if vs := configVersionsAt(addr); !allOn(good) {
		t.Errorf("after a refused reload /readyz shows %v; want every process still on %s", vs, good)
	}
	refusedAtTheDoor("/backup create --target extra2", "extra2")
	if _, body := readyz(addr); strings.Contains(body, "spare2") || !strings.Contains(body, `"storage spare":"ok"`) {
		t.Errorf("/readyz after a refused reload: %s; want the storages of the file in force", body)
	}
	if got := c.waitDone(c.command("/backup create --target extra"), 60*time.Second); !strings.HasPrefix(got, "✅") {
		t.Fatalf("after a refused reload the worker no longer runs the target it had: %q", got)
	}
	for _, p := range []*proc{botProc, w} {
		if n := strings.Count(p.log.String(), "policy and configuration reloaded"); n != 1 {
			t.Errorf("%s reloaded %d times; want once (the good file only)", p.name, n)
		}
	}
}

// TestSighupReloadsThePolicy: a policy change is in force after SIGHUP,
// without a restart; a file that does not parse is refused and the policy
// in force stays.
func TestSighupReloadsThePolicy(t *testing.T) {
	e := newEnv(t, testRedisURL(t, testredis.DBBackupbot))
	botProc, c, _ := e.startConsole("bot")
	c.command("/backup create --target data") // alice is admin by the default bindings

	cfg := e.configText()
	viewerOnly := strings.Replace(cfg, "policy:\n", "policy:\n  bindings:\n    viewer: [\"console:*\"]\n", 1)
	writeFile(t, e.config, []byte(viewerOnly))
	botProc.hup(t)
	eventually(t, 10*time.Second, "the bot reloads its policy", func() bool {
		return strings.Contains(botProc.log.String(), "policy and configuration reloaded")
	})
	c.send("/backup create --target data")
	c.expect(regexp.MustCompile(`^\[reply\] ⛔ Not allowed: .*operator`), 10*time.Second)

	writeFile(t, e.config, []byte(viewerOnly+"  roles: [this is not a map\n"))
	botProc.hup(t)
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
