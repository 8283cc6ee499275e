package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeCommandsWorkInOrderOnAFreshClone runs the README's backupctl
// commands, in order, in an empty directory with the embedded defaults:
// the first create makes ./var/data (the default target) instead of
// failing on it.
func TestReadmeCommandsWorkInOrderOnAFreshClone(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("BACKUPBOT_CONFIG", "")
	t.Setenv("BACKUPBOT_REPO_PASSWORD", "")
	t.Setenv("BACKUPBOT_REPO_PASSWORD_FILE", "")
	restoreTo := filepath.Join(dir, "restore")
	run := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := runContext(context.Background(), args, strings.NewReader(""), &out, &errOut); code != exitOK {
			t.Fatalf("backupctl %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
		}
		return out.String() + errOut.String()
	}

	created := run("create", "--type", "full", "--target", "data", "--name", "first")
	if !strings.Contains(created, "created ./var/data") {
		t.Errorf("the first create does not say it created the default target directory:\n%s", created)
	}
	if _, err := os.Stat(filepath.Join(dir, "var", "data", "README.txt")); err != nil {
		t.Errorf("the default target directory was not seeded: %v", err)
	}
	if list := run("list"); !strings.Contains(list, "first") {
		t.Errorf("list does not show the backup just made:\n%s", list)
	}
	run("restore", "--name", "first", "--to", restoreTo)
	matches, _ := filepath.Glob(filepath.Join(restoreTo, "**", "README.txt"))
	if len(matches) == 0 {
		_ = filepath.WalkDir(restoreTo, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Name() == "README.txt" {
				matches = append(matches, p)
			}
			return nil
		})
	}
	if len(matches) == 0 {
		t.Errorf("restore --to %s wrote no README.txt", restoreTo)
	}
	run("parse", `/backup restore --name "pre deployment" --target config --preview`)
	run("--json", "list")

	// A second create finds the directory and says nothing about it.
	if again := run("create", "--target", "data"); strings.Contains(again, "created ./var/data") {
		t.Errorf("a second create claims to create the directory again:\n%s", again)
	}
}
