package engine_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/backupbot/backupbot/storage/engine"
)

// writeFile writes a file, making the directories on its way.
func writeFile(t *testing.T, path, data string, perm os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), perm); err != nil {
		t.Fatal(err)
	}
}

// backup runs a backup that must succeed.
func backup(t *testing.T, e *engine.Engine, req engine.BackupRequest) *engine.BackupResult {
	t.Helper()
	res, err := e.Backup(t.Context(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// restored restores a snapshot into a new temporary directory, which it
// returns.
func restored(t *testing.T, e *engine.Engine, snapshot string) string {
	t.Helper()
	dest := t.TempDir()
	if _, err := e.Restore(t.Context(), engine.RestoreRequest{Snapshot: snapshot, To: dest}, nil); err != nil {
		t.Fatal(err)
	}
	return dest
}
