package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRestoreTargetAllRestoresTheWholeSet: create --target all is one
// backup set, and restore --target all (the default) brings back every
// target of it byte for byte, through the worker's restore handler; with
// --date it restores the newest backup of each target at or before then.
func TestRestoreTargetAllRestoresTheWholeSet(t *testing.T) {
	w := newCtlWorld(t)
	w.runOK(t, "create", "--type", "full", "--target", "all")
	to := filepath.Join(w.dir, "restored")
	code, out, errOut := w.run(t, "restore", "--name", "latest", "--target", "all", "--to", to)
	if code != exitOK || !strings.Contains(out, "2 backups (config, data)") {
		t.Fatalf("restore --target all: exit %d; want both targets restored\n%s%s", code, out, errOut)
	}
	sameTree(t, w.data, filepath.Join(to, w.data))
	sameTree(t, w.etc, filepath.Join(to, w.etc))

	// A later backup of one target alone: the latest backup is that one,
	// not a set, so only it is restored; --date picks the newest of each
	// target at or before the day's end, so both again (config from the
	// set, data from the later backup).
	time.Sleep(1100 * time.Millisecond) // another second: another default name
	if err := os.WriteFile(filepath.Join(w.data, "db.csv"), []byte("id,name\n2,bob\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.runOK(t, "create", "--target", "data")
	latest := filepath.Join(w.dir, "latest")
	if code, out, errOut := w.run(t, "restore", "--name", "latest", "--to", latest); code != exitOK || !strings.Contains(out, "Target:") || strings.Contains(out, "2 backups") {
		t.Fatalf("restore of the latest single-target backup: exit %d\n%s%s", code, out, errOut)
	}
	sameTree(t, w.data, filepath.Join(latest, w.data))
	if _, err := os.Stat(filepath.Join(latest, w.etc)); err == nil {
		t.Error("restoring a single-target backup restored another target too")
	}
	dated := filepath.Join(w.dir, "dated")
	code, out, errOut = w.run(t, "restore", "--date", time.Now().Format("2006-01-02"), "--to", dated)
	if code != exitOK || !strings.Contains(out, "2 backups (config, data)") {
		t.Fatalf("restore --date today: exit %d\n%s%s", code, out, errOut)
	}
	sameTree(t, w.data, filepath.Join(dated, w.data))
	sameTree(t, w.etc, filepath.Join(dated, w.etc))
}
