package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// backupctl create copies a target's new backup to its copy storages,
// list shows where each backup is and the 3-2-1 line, and copy on demand
// of a backup copied already writes nothing.
func TestCtlCopies(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "a.txt"), []byte("copies"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "c.yaml")
	body := "storages:\n  local: {type: local, path: " + filepath.Join(dir, "repo") + "}\n  usb: {type: local, path: " + filepath.Join(dir, "usb") + "}\n" +
		"targets:\n  data:\n    paths: [" + data + "]\n    copies: [usb]\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BACKUPBOT_REPO_PASSWORD", "ctl copies password")
	code, out, errOut := runCtl(t, "--config", path, "create", "--type", "full", "--target", "data", "--name", "first")
	if code != exitOK || !strings.Contains(out, "Copied backup first from local to usb") {
		t.Fatalf("create: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	code, out, errOut = runCtl(t, "--config", path, "list", "--storage", "all", "--target", "data")
	if code != exitOK || !strings.Contains(out, "COPIES") || strings.Count(out, "  local, usb\n") != 2 ||
		!strings.Contains(out, "data: 3-2-1 NOT met: 2 copies (local, usb, need 3), 1 kind of media (local disk, need 2), no copy off-site, all fresh") {
		t.Fatalf("list: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	code, out, errOut = runCtl(t, "--config", path, "copy", "--name", "first", "--to", "usb")
	if code != exitOK || !strings.Contains(out, "holds a copy of backup first") {
		t.Fatalf("copy again: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
}
