package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// list --storage all while a storage cannot be read lists the others and
// exits 3 (partial), naming the storage that is missing.
func TestListAllWithAnUnreadableStorageExitsPartial(t *testing.T) {
	w := newCtlWorld(t)
	if code, out, errOut := w.run(t, "create", "--type", "full", "--target", "data", "--name", "first"); code != exitOK {
		t.Fatalf("create: exit %d\n%s%s", code, out, errOut)
	}
	broken := filepath.Join(w.dir, "not-a-directory")
	if err := os.WriteFile(broken, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg = []byte(strings.Replace(string(cfg), "storages:\n", "storages:\n  nas: {type: network, path: "+broken+"/repo}\n", 1))
	if err := os.WriteFile(w.cfg, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := w.run(t, "list", "--storage", "all")
	if code != exitPartial || !strings.Contains(out, "first") || !strings.Contains(errOut, "nas") || !strings.Contains(errOut, "partial") {
		t.Errorf("list --storage all with nas broken: exit %d, want %d, the local backups listed and nas named\nstdout: %s\nstderr: %s", code, exitPartial, out, errOut)
	}
}
