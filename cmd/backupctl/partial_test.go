package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/internal/quote"
	"github.com/backupbot/backupbot/storage/engine/enginetest/fidelity"
)

// TestPartialBackupExitsThree: a backup that cannot read one file exits 3,
// names the file on stderr, and list shows the snapshot as partial.
func TestPartialBackupExitsThree(t *testing.T) {
	w := newCtlWorld(t)
	bad, err := fidelity.Unreadable(w.data)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := w.run(t, "create", "--type", "full", "--target", "data")
	if code != exitPartial {
		t.Fatalf("exit %d, want %d (partial); stdout %s\nstderr %s", code, exitPartial, out, errOut)
	}
	if !strings.Contains(errOut, "PARTIAL") || !strings.Contains(errOut, quote.Name(bad)+": lstat: file name too long") {
		t.Fatalf("stderr does not name the unreadable file and why:\n%s", errOut)
	}
	code, out, errOut = w.run(t, "list")
	if code != exitOK || !strings.Contains(out, "full (partial)") {
		t.Fatalf("list: exit %d, stdout:\n%s\nstderr %s", code, out, errOut)
	}
}

func TestPartialExitCode(t *testing.T) {
	a := &app{stderr: &strings.Builder{}}
	if got := a.exitCode(&partialError{err: errors.New("partial")}); got != exitPartial {
		t.Fatalf("exit %d for a partial backup, want %d", got, exitPartial)
	}
	if got := a.exitCode(errors.Join(errors.New("target x failed"))); got != exitFailed {
		t.Fatalf("exit %d for a failed target, want %d", got, exitFailed)
	}
}

// list --storage all while a storage cannot be read lists the others and
// exits 3 (partial), naming the storage that is missing.
func TestListAllWithAnUnreadableStorageExitsPartial(t *testing.T) {
	w := newCtlWorld(t)
	w.runOK(t, "create", "--type", "full", "--target", "data", "--name", "first")
	broken := filepath.Join(w.dir, "not-a-directory")
	if err := os.WriteFile(broken, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.editConfig(t, "storages:\n", "storages:\n  nas: {type: network, path: "+broken+"/repo}\n")
	code, out, errOut := w.run(t, "list", "--storage", "all")
	if code != exitPartial || !strings.Contains(out, "first") || !strings.Contains(errOut, "nas") || !strings.Contains(errOut, "partial") {
		t.Errorf("list --storage all with nas broken: exit %d, want %d, the local backups listed and nas named\nstdout: %s\nstderr: %s", code, exitPartial, out, errOut)
	}
}
