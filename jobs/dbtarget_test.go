package jobs

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
)

// TestDatabaseTargetsAreTargets: database-NAME is a --target wherever
// targets are: the parser takes it, create dumps that database and backs
// the dump up, list and restore find it by that target.
func TestDatabaseTargetsAreTargets(t *testing.T) {
	s := requireServer(t, "postgres")
	src := uniqueName("bb_target")
	s.createDB(t, src)
	pw := fmt.Sprintf("pw-%08x", rand.Uint32())
	user := s.passwordUser(t, src, pw)
	s.fillAccounts(t, src, user)
	t.Setenv("BACKUPBOT_TEST_APP_DB_PASSWORD", pw)
	h := newDBHarness(t, map[string]config.Database{"app": {Type: "postgres", Host: s.host, Port: atoi(t, s.port), User: user,
		Name: src, PasswordEnv: "BACKUPBOT_TEST_APP_DB_PASSWORD"}})
	p := h.cfg.Parser()
	for _, line := range []string{"create --target database-app --name db1", "list --target database-app", "restore --name latest --target database-app --preview", "cleanup --target database-app --dry-run"} {
		if _, err := p.Parse(line); err != nil {
			t.Errorf("%s: %v; want database-app accepted as a target", line, err)
		}
	}
	if _, err := p.Parse("list --target database-nope"); err == nil {
		t.Error("list --target database-nope was accepted: only configured databases are targets")
	}

	ev := h.run(&commands.Create{Type: commands.TypeFull, Target: "database-app", Name: "db1", Compress: true})
	if ev.Kind != EventSucceeded {
		t.Fatalf("create --target database-app: %s %s", ev.Kind, ev.Error)
	}
	snaps := h.snapshots()
	if len(snaps) != 1 || snaps[0].Target != "database-app" || snaps[0].Name != "db1" {
		t.Fatalf("snapshots %+v: want db1 of target database-app", snaps)
	}
	ev = h.run(&commands.List{Storage: commands.StorageRef{Name: "all"}, Target: "database-app"})
	if !strings.HasPrefix(ev.Result.Summary, "1 backups") {
		t.Errorf("list --target database-app: %q", ev.Result.Summary)
	}
	dest := filepath.Join(t.TempDir(), "restored")
	ev = h.run(&commands.Restore{Name: "latest", Target: "database-app", To: dest})
	if ev.Kind != EventSucceeded || !strings.Contains(ev.Result.Summary, "db1") {
		t.Fatalf("restore --target database-app: %s %s %+v", ev.Kind, ev.Error, ev.Result)
	}
	var dump string
	_ = filepath.Walk(dest, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && strings.HasPrefix(info.Name(), "app.") {
			dump = p
		}
		return err
	})
	if dump == "" {
		t.Errorf("restore --target database-app wrote no app.* dump under %s", dest)
	}
}
