package main

import (
	"os"
	"strings"
	"testing"
)

// TestSharePathsAreRefusedNotCreated: the reference's
// `--storage network --path "\\nas\backups\aitherzero"` (no SMB storage
// configured) and a drive-letter path are refused as bad input, and no
// directory named after them appears in the working directory.
func TestSharePathsAreRefusedNotCreated(t *testing.T) {
	w := newCtlWorld(t)
	cwd := t.TempDir()
	t.Chdir(cwd)
	for _, args := range [][]string{
		{"create", "--type", "full", "--target", "data", "--storage", "network", "--path", `\\nas\backups\aitherzero`},
		{"create", "--type", "full", "--target", "data", "--path", `\\nas\backups\aitherzero`},
		{"create", "--type", "full", "--target", "data", "--storage", "local", "--path", `D:/Backups/aitherzero`},
		{"list", "--storage", "local", "--path", `smb://nas/backups/x`},
	} {
		code, out, errOut := w.run(t, args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d; want 2\n%s%s", args, code, out, errOut)
			continue
		}
		path := args[len(args)-1]
		if !strings.Contains(errOut, path) {
			t.Errorf("%v: %q does not name the path", args, errOut)
		}
	}
	ents, err := os.ReadDir(cwd)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("a refused path left %q in the working directory", e.Name())
	}
}
