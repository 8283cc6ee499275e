package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// backupctl create copies a target's new backup to its copy storages,
// list shows where each backup is and the 3-2-1 line, and copy on demand
// of a backup copied already writes nothing.
func TestCtlCopies(t *testing.T) {
	w := newCtlWorld(t)
	w.editConfig(t, "storages:\n", "storages:\n  usb: {type: local, path: "+filepath.Join(w.dir, "usb")+"}\n")
	w.editConfig(t, "data: {paths: ["+w.data+"]}", "data: {paths: ["+w.data+"], copies: [usb]}")
	code, out, errOut := w.run(t, "create", "--type", "full", "--target", "data", "--name", "first")
	if code != exitOK || !strings.Contains(out, "Copied backup first from local to usb") {
		t.Fatalf("create: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	code, out, errOut = w.run(t, "list", "--storage", "all", "--target", "data")
	if code != exitOK || !strings.Contains(out, "COPIES") || strings.Count(out, "  local, usb\n") != 2 ||
		!strings.Contains(out, "data: 3-2-1 NOT met: 2 copies (local, usb, need 3), 1 kind of media (local disk, need 2), no copy off-site, all fresh") {
		t.Fatalf("list: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	code, out, errOut = w.run(t, "copy", "--name", "first", "--to", "usb")
	if code != exitOK || !strings.Contains(out, "holds a copy of backup first") {
		t.Fatalf("copy again: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
}
