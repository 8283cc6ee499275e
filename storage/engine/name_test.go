package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/backupbot/backupbot/storage/engine"
)

// TestAutomaticNamesAreUnique: two backups of a target in the same second
// get different names, and restoring the first by its name gives the
// first's content, not the newer one's.
func TestAutomaticNamesAreUnique(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	file := filepath.Join(src, "f.txt")
	e := openLocal(t)
	at := time.Now().Truncate(time.Second)
	var names []string
	for i, content := range []string{"first", "second"} {
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := e.Backup(ctx, engine.BackupRequest{Paths: []string{src}, Target: "data", Type: engine.TypeFull,
			Time: at.Add(time.Duration(i) * 100 * time.Millisecond)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, res.Snapshot.Name)
	}
	if names[0] == names[1] || names[1] != names[0]+"-2" {
		t.Fatalf("names of two backups in one second: %q; want two, the second %q", names, names[0]+"-2")
	}
	out := t.TempDir()
	if _, err := e.Restore(ctx, engine.RestoreRequest{Snapshot: names[0], To: out}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(out, file))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "first" {
		t.Fatalf("restore of %s gave %q; want the first backup's content", names[0], got)
	}
}
