package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/storage/engine"
	"github.com/backupbot/backupbot/storage/engine/enginetest/fidelity"
)

// TestFidelity backs up a tree with every file kind and restores it with
// --to: hard links come back as links, xattrs (user, trusted, security),
// ACLs and file capabilities, FIFOs and devices with their numbers,
// sparse files with their holes, setuid/setgid/sticky, foreign owners,
// nanosecond mtimes and the parent directory the restore recreates all
// match; the socket is skipped with a warning. Creating devices and
// foreign owners needs root (CI runs as root).
func TestFidelity(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root to create device nodes, foreign owners and trusted xattrs: run make test as root (CI does); the fidelity of restores is not checked otherwise")
	}
	root := t.TempDir()
	src, err := fidelity.Make(root)
	if err != nil {
		t.Fatalf("making the fidelity tree: %v", err)
	}
	e := openLocal(t)
	res := backup(t, e, engine.BackupRequest{Paths: []string{src}, Target: "fidelity", Type: engine.TypeFull})
	if res.Snapshot.Partial {
		t.Fatalf("the backup says it is partial: %+v", res.Snapshot.Skipped)
	}
	if !slicesContain(res.Warnings, "socket") {
		t.Errorf("no warning about the skipped socket: %q", res.Warnings)
	}
	dest := filepath.Join(t.TempDir(), "restore")
	rres, err := e.Restore(t.Context(), engine.RestoreRequest{Snapshot: "latest", To: dest}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rres.Warnings) > 0 {
		t.Errorf("restore warnings: %q", rres.Warnings)
	}
	for _, c := range fidelity.Compare(src, filepath.Join(dest, src)) {
		if !c.OK {
			t.Errorf("%s: %s", c.Name, c.Detail)
		}
	}
	// The directories on the way, /tmp included, keep their modes.
	for p := filepath.Dir(src); p != "/"; p = filepath.Dir(p) {
		a, err1 := os.Lstat(p)
		b, err2 := os.Lstat(filepath.Join(dest, p))
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v %v", p, err1, err2)
		}
		if a.Mode() != b.Mode() {
			t.Errorf("%s came back %s, was %s", p, b.Mode(), a.Mode())
		}
	}
}

func slicesContain(ss []string, sub string) bool {
	for _, s := range ss {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
