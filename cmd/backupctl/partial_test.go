package main

import (
	"errors"
	"fmt"
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
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "ok.txt"), []byte("fine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad, err := fidelity.Unreadable(data)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "backupbot.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "storages:\n  local: {type: local, path: %s/repo}\ntargets:\n  data: {paths: [%s]}\n", dir, data), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BACKUPBOT_REPO_PASSWORD", "pw")
	code, out, errOut := runCtl(t, "--config", cfg, "create", "--type", "full", "--target", "data")
	if code != exitPartial {
		t.Fatalf("exit %d, want %d (partial); stdout %s\nstderr %s", code, exitPartial, out, errOut)
	}
	if !strings.Contains(errOut, "PARTIAL") || !strings.Contains(errOut, quote.Name(bad)+": lstat: file name too long") {
		t.Fatalf("stderr does not name the unreadable file and why:\n%s", errOut)
	}
	code, out, errOut = runCtl(t, "--config", cfg, "list")
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
