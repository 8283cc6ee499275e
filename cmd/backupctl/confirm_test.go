package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCleanupAsksOnATerminalAndRefusesWithout is issue 12's point 5 in the
// terminal: cleanup without --force shows its dry run's list and asks y/N
// on a terminal (anything but yes removes nothing); with no terminal to ask
// on it refuses with exit 2, naming --force; --force asks nothing.
func TestCleanupAsksOnATerminalAndRefusesWithout(t *testing.T) {
	w := newCtlWorld(t)
	w.editConfig(t, "data: {paths: ["+w.data+"]}", "data: {paths: ["+w.data+"], retention: {last: 1}}")
	for _, name := range []string{"one", "two", "three"} {
		w.runOK(t, "create", "--type", "full", "--target", "data", "--name", name)
	}
	snapshots := func() int {
		entries, err := os.ReadDir(filepath.Join(w.repo, "snapshots"))
		if err != nil {
			t.Fatal(err)
		}
		return len(entries)
	}
	cleanup := func(terminal bool, answer string, args ...string) (int, string) {
		t.Helper()
		was := stdinIsTerminal
		stdinIsTerminal = func(io.Reader) bool { return terminal }
		defer func() { stdinIsTerminal = was }()
		var out, errOut bytes.Buffer
		code := runContext(context.Background(), append([]string{"--config", w.cfg, "cleanup", "--target", "data"}, args...),
			strings.NewReader(answer), &out, &errOut)
		return code, errOut.String()
	}

	if code, errOut := cleanup(false, "y\n"); code != exitUsage || !strings.Contains(errOut, "--force") || snapshots() != 3 {
		t.Fatalf("cleanup with no terminal: exit %d, %q, %d snapshots; want exit 2 naming --force and all 3 kept", code, errOut, snapshots())
	}
	code, errOut := cleanup(true, "n\n")
	if code == exitOK || snapshots() != 3 {
		t.Fatalf("cleanup answered no: exit %d, %d snapshots; want a failure and all 3 kept\n%s", code, snapshots(), errOut)
	}
	for _, want := range []string{"would remove:", "one (", "two (", "Remove these 2 backups? [y/N]", "nothing was removed"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("the prompt lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "three (") {
		t.Errorf("the prompt lists the backup that stays:\n%s", errOut)
	}
	if code, errOut := cleanup(true, "y\n"); code != exitOK || snapshots() != 1 {
		t.Fatalf("cleanup answered yes: exit %d, %d snapshots; want 0 and 1 left\n%s", code, snapshots(), errOut)
	}
	w.runOK(t, "create", "--type", "full", "--target", "data", "--name", "four")
	if code, errOut := cleanup(false, "", "--force"); code != exitOK || snapshots() != 1 || strings.Contains(errOut, "[y/N]") {
		t.Fatalf("cleanup --force with no terminal: exit %d, %d snapshots, %q; want 0, 1 left, no question", code, snapshots(), errOut)
	}
}
