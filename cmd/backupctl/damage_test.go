package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/storage/engine"
	"github.com/backupbot/backupbot/storage/local"
	"github.com/backupbot/backupbot/storage/pack"
	"github.com/backupbot/backupbot/storage/repo"
)

// TestDamagedRepositoryThroughBackupctl loses the packs of a first backup:
// the second backup's restore writes what is intact, lists every lost file
// and exits 1; list --verify flags exactly that backup and exits 1;
// verify --fix, with the sources still there, heals it.
func TestDamagedRepositoryThroughBackupctl(t *testing.T) {
	w := newCtlWorld(t)
	w.runOK(t, "create", "--type", "full", "--target", "data", "--name", "one")
	firstPacks := dataPacks(t, w.repo)
	if err := os.WriteFile(filepath.Join(w.data, "later.txt"), []byte("written after the first backup"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.runOK(t, "create", "--target", "data", "--name", "two")
	w.runOK(t, "create", "--target", "config", "--name", "conf")
	for _, p := range firstPacks {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}

	to := t.TempDir()
	code, out, errOut := w.run(t, "restore", "--name", "two", "--to", to)
	if code != exitFailed || !strings.Contains(out, "LOST") || !strings.Contains(out, "db.csv") || !strings.Contains(errOut, "could not be restored") {
		t.Fatalf("restore of a damaged backup: exit %d; want 1 with the lost files listed\n%s%s", code, out, errOut)
	}
	if b, err := os.ReadFile(filepath.Join(to, w.data, "later.txt")); err != nil || string(b) != "written after the first backup" {
		t.Fatalf("the intact file was not restored: %q, %v\n%s", b, err, out)
	}
	if _, err := os.Stat(filepath.Join(to, w.data, "db.csv")); err == nil {
		t.Fatal("a lost file was written")
	}

	code, out, errOut = w.run(t, "list", "--verify")
	if code != exitFailed {
		t.Fatalf("list --verify of a damaged repository: exit %d\n%s%s", code, out, errOut)
	}
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "one ") || strings.HasPrefix(line, "two "):
			if !strings.Contains(line, "DAMAGED") {
				t.Errorf("list --verify does not flag a backup that lost data: %q", line)
			}
		case strings.HasPrefix(line, "conf "):
			if !strings.Contains(line, "ok") || strings.Contains(line, "DAMAGED") {
				t.Errorf("list --verify flags an intact backup: %q", line)
			}
		}
	}

	code, out, errOut = w.run(t, "verify", "--all", "--fix")
	if code != exitOK || !strings.Contains(out, "re-read the sources") {
		t.Fatalf("verify --fix with the sources present: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut = w.run(t, "list", "--verify"); code != exitOK || strings.Contains(out, "DAMAGED") || strings.Contains(out, "marked damaged") {
		t.Fatalf("list --verify after the repair: exit %d\n%s%s", code, out, errOut)
	}
	to = t.TempDir()
	if code, out, errOut = w.run(t, "restore", "--name", "one", "--to", to); code != exitOK {
		t.Fatalf("restore after the repair: exit %d\n%s%s", code, out, errOut)
	}
	if b, err := os.ReadFile(filepath.Join(to, w.data, "db.csv")); err != nil || len(b) == 0 {
		t.Fatalf("the repaired file was not restored: %v", err)
	}
}

// dataPacks returns the files of the packs that hold file data (not
// directory listings).
func dataPacks(t *testing.T, dir string) []string {
	t.Helper()
	ctx := context.Background()
	b, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.Open(ctx, b, engine.OpenOptions{Password: os.Getenv("BACKUPBOT_REPO_PASSWORD")})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	seen := map[string]bool{}
	var out []string
	e.Repository().Index.Each(func(l repo.Location) {
		k := filepath.Join(dir, filepath.FromSlash(repo.PackKey(l.Pack)))
		if l.Type == pack.DataBlob && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	})
	if len(out) == 0 {
		t.Fatal("no data packs")
	}
	return out
}
