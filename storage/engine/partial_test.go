package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/storage/engine"
	"github.com/backupbot/backupbot/storage/engine/enginetest/fidelity"
)

// TestPartialBackupIsRecorded: a backup that cannot read one file still
// makes its snapshot, marked partial, naming exactly that file and why;
// the listing says so; a complete backup is not marked.
func TestPartialBackupIsRecorded(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "ok.txt"), []byte("readable\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := openLocal(t)
	res, err := e.Backup(ctx, engine.BackupRequest{Paths: []string{src}, Target: "data"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Snapshot.Partial || res.Snapshot.SkippedCount != 0 {
		t.Fatalf("a complete backup is marked partial: %+v", res.Snapshot)
	}
	bad, err := fidelity.Unreadable(src)
	if err != nil {
		t.Fatal(err)
	}
	res, err = e.Backup(ctx, engine.BackupRequest{Paths: []string{src}, Target: "data", Type: engine.TypeFull}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := res.Snapshot
	if !s.Partial || s.SkippedCount != 1 || len(s.Skipped) != 1 || s.Skipped[0].Path != bad || !strings.Contains(s.Skipped[0].Error, "file name too long") {
		t.Fatalf("snapshot partial=%v count=%d skipped=%+v; want exactly %s, file name too long", s.Partial, s.SkippedCount, s.Skipped, filepath.Base(bad))
	}
	if s.Files != 1 {
		t.Errorf("%d files in the snapshot, want the one readable file", s.Files)
	}
	list, err := e.Snapshots(ctx, engine.SnapshotFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || !list[0].Partial || list[1].Partial || list[0].Skipped[0].Path != bad {
		t.Fatalf("the listing does not show the newest snapshot, and only it, as partial: %+v", list)
	}
}
