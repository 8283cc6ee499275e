package bot_test

import (
	"crypto/rand"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRestoreThatLostFilesFailsWithTheList loses the data pack of a backup:
// through the console the restore ends ❌, saying how many files were lost
// and naming them, with the list attached to the thread.
func TestRestoreThatLostFilesFailsWithTheList(t *testing.T) {
	s := newStack(t, true)
	big := make([]byte, 300<<10)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	s.write("big.bin", string(big))
	s.as("alice", "/backup create --type full --target data --name base")
	s.expect(`✅ Backup base done`, 30*time.Second)

	// The data pack is the largest object under data/ (the other holds
	// directory listings).
	repoDir := filepath.Join(filepath.Dir(s.data), "repo")
	var biggest string
	var size int64
	_ = filepath.WalkDir(filepath.Join(repoDir, "data"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil && fi.Size() > size {
				biggest, size = p, fi.Size()
			}
		}
		return nil
	})
	if size < 300<<10 {
		t.Fatalf("no data pack found under %s", repoDir)
	}
	if err := os.Remove(biggest); err != nil {
		t.Fatal(err)
	}

	dest := t.TempDir()
	s.as("alice", "/backup restore --name base --to "+dest)
	s.expect(`✅ Restore preview of base`, 30*time.Second)
	preview := s.expect(`buttons: \[confirm ([0-9a-f]{8})\]`, quick)[1]
	s.as("alice", "confirm "+preview)
	id := s.expect("^\\[reply\\] ▶️ Confirmed\\. Restoring as job `([0-9a-f]{8})`", quick)[1]
	s.expect("❌ Job `"+id+"` failed: .*4 files could not be restored.*big.bin.*verify --fix", 30*time.Second)
	s.expect(`Lost \(4 files\)`, quick)
	s.expect(`\[file restore-lost-[0-9a-f]{8}\.txt in msg-\d+\]`, quick)
	if n := s.count(`^\s+/.*file-1\.txt\s+chunk [0-9a-f]+ cannot be read`); n == 0 {
		t.Errorf("the attached list does not name file-1.txt:\n%s", strings.Join(s.out.Lines(), "\n"))
	}
}
