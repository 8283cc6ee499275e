package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/storage/engine"
	"github.com/backupbot/backupbot/storage/engine/enginetest/fidelity"
)

// TestPartialBackupIsRecorded: a backup that cannot read one file still
// makes its snapshot, marked partial, naming exactly that file and why;
// the listing says so; a complete backup is not marked.
func TestPartialBackupIsRecorded(t *testing.T) {
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "ok.txt"), "readable\n", 0o644)
	e := openLocal(t)
	res := backup(t, e, engine.BackupRequest{Paths: []string{src}, Target: "data"})
	if res.Snapshot.Partial || res.Snapshot.SkippedCount != 0 {
		t.Fatalf("a complete backup is marked partial: %+v", res.Snapshot)
	}
	bad, err := fidelity.Unreadable(src)
	if err != nil {
		t.Fatal(err)
	}
	s := backup(t, e, engine.BackupRequest{Paths: []string{src}, Target: "data", Type: engine.TypeFull}).Snapshot
	if !s.Partial || s.SkippedCount != 1 || len(s.Skipped) != 1 || s.Skipped[0].Path != bad || !strings.Contains(s.Skipped[0].Error, "file name too long") {
		t.Fatalf("snapshot partial=%v count=%d skipped=%+v; want exactly %s, file name too long", s.Partial, s.SkippedCount, s.Skipped, filepath.Base(bad))
	}
	if s.Files != 1 {
		t.Errorf("%d files in the snapshot, want the one readable file", s.Files)
	}
	list, err := e.Snapshots(t.Context(), engine.SnapshotFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || !list[0].Partial || list[1].Partial || list[0].Skipped[0].Path != bad {
		t.Fatalf("the listing does not show the newest snapshot, and only it, as partial: %+v", list)
	}
}

// TestAutomaticNamesAreUnique: two backups of a target in the same second
// get different names, and restoring the first by its name gives the
// first's content, not the newer one's.
func TestAutomaticNamesAreUnique(t *testing.T) {
	src := t.TempDir()
	file := filepath.Join(src, "f.txt")
	e := openLocal(t)
	at := time.Now().Truncate(time.Second)
	var names []string
	for i, content := range []string{"first", "second"} {
		writeFile(t, file, content, 0o644)
		res := backup(t, e, engine.BackupRequest{Paths: []string{src}, Target: "data", Type: engine.TypeFull,
			Time: at.Add(time.Duration(i) * 100 * time.Millisecond)})
		names = append(names, res.Snapshot.Name)
	}
	if names[0] == names[1] || names[1] != names[0]+"-2" {
		t.Fatalf("names of two backups in one second: %q; want two, the second %q", names, names[0]+"-2")
	}
	got, err := os.ReadFile(filepath.Join(restored(t, e, names[0]), file))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "first" {
		t.Fatalf("restore of %s gave %q; want the first backup's content", names[0], got)
	}
}
