package engine_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/storage/engine"
	"github.com/backupbot/backupbot/storage/pack"
	"github.com/backupbot/backupbot/storage/repo"
)

// TestDirectoryOverTheTreeLimit backs up and restores a directory whose
// listing is larger than the reader's limit for one blob (MaxBlobSize):
// 44,000 entries with 250-byte names. It used to make a snapshot that
// exits 0 and can never be restored. The full sizes (1,000,000 entries;
// 100,000 with 240-byte names) run in `make bench` (BENCH_ONLY=bigdir).
func TestDirectoryOverTheTreeLimit(t *testing.T) {
	const n = 44000
	ctx := t.Context()
	src := filepath.Join(t.TempDir(), "big")
	name := func(i int) string { return fmt.Sprintf("%06d-%s", i, strings.Repeat("n", 243)) }
	for i := range n {
		data := ""
		if i%1000 == 0 {
			data = fmt.Sprintf("file %d\n", i)
		}
		writeFile(t, filepath.Join(src, name(i)), data, 0o644)
	}
	writeFile(t, filepath.Join(filepath.Dir(src), "other.txt"), "unrelated\n", 0o644)
	b := newLocal(t)
	e := openOver(t, b)
	res := backup(t, e, engine.BackupRequest{Paths: []string{filepath.Dir(src)}, Target: "big"})
	if res.Snapshot.Files != n+1 {
		t.Fatalf("%d files backed up, want %d", res.Snapshot.Files, n+1)
	}

	// The listing really is over the reader's limit, and stored in parts
	// each within the writer's.
	r, err := repo.Open(ctx, b, "pw", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	var total, largest uint32
	r.Index.Each(func(l repo.Location) {
		if l.Type == pack.TreeBlob {
			total += l.RawLength
			largest = max(largest, l.RawLength)
		}
	})
	if total <= repo.MaxBlobSize || largest > repo.MaxTreeBlob {
		t.Fatalf("tree blobs: %d bytes in all, the largest %d; want over %d in all, none over %d", total, largest, repo.MaxBlobSize, repo.MaxTreeBlob)
	}

	// An unrelated file restores alone, and the whole directory restores.
	dest := t.TempDir()
	if _, err := e.Restore(ctx, engine.RestoreRequest{Snapshot: "latest", To: dest, Filter: "other.txt"}, nil); err != nil {
		t.Fatalf("restoring an unrelated file: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(dest, filepath.Dir(src), "other.txt")); err != nil || string(got) != "unrelated\n" {
		t.Fatalf("other.txt: %q %v", got, err)
	}
	dest = t.TempDir()
	rres, err := e.Restore(ctx, engine.RestoreRequest{Snapshot: "latest", To: dest}, nil)
	if err != nil {
		t.Fatalf("restoring the big directory: %v", err)
	}
	entries, err := os.ReadDir(filepath.Join(dest, src))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != n || rres.FilesWritten != n+1 {
		t.Fatalf("%d entries restored (%d files written), want %d", len(entries), rres.FilesWritten, n)
	}
	for _, i := range []int{0, 1, n / 2, n - 1} {
		if _, err := os.Lstat(filepath.Join(dest, src, name(i))); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(dest, src, name(7000))); string(got) != "file 7000\n" {
		t.Fatalf("file 7000 holds %q", got)
	}
}
