package engine_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backupbot/backupbot/storage/engine"
)

// The progress totals of a backup end at the source's real file count and
// size, whatever the parent snapshot held: a first backup, an unchanged
// one (whose sources are not counted by a second walk), one with files
// added and one with files removed (the parent's totals, the early guess,
// are then too high); and no report has more done than its total.
func TestBackupProgressTotalsMatchTheSource(t *testing.T) {
	ctx := t.Context()
	src := t.TempDir()
	write := func(i, size int) {
		t.Helper()
		writeFile(t, filepath.Join(src, fmt.Sprintf("d%d", i%7), fmt.Sprintf("f%03d", i)), strings.Repeat("x", size), 0o644)
	}
	for i := range 60 {
		write(i, 1000+i)
	}
	e := openLocal(t)
	check := func(what string) {
		t.Helper()
		var files, bytes int64
		if err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				fi, err := d.Info()
				if err != nil {
					return err
				}
				files++
				bytes += fi.Size()
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var last engine.Progress
		seen := 0
		_, err := e.Backup(ctx, engine.BackupRequest{Paths: []string{src}, Target: "p", Type: engine.TypeIncremental}, func(p engine.Progress) {
			if p.Phase != engine.PhaseBackup {
				return
			}
			seen++
			if p.Files > p.FilesTotal || p.Bytes > p.BytesTotal {
				t.Errorf("%s: progress beyond its totals: %d of %d files, %d of %d bytes", what, p.Files, p.FilesTotal, p.Bytes, p.BytesTotal)
			}
			last = p
		})
		if err != nil {
			t.Fatal(err)
		}
		if seen == 0 {
			t.Fatalf("%s: no backup progress reported", what)
		}
		if last.FilesTotal != files || last.BytesTotal != bytes || last.Files != files || last.Bytes != bytes {
			t.Errorf("%s: last progress %d of %d files, %d of %d bytes; the source has %d files, %d bytes",
				what, last.Files, last.FilesTotal, last.Bytes, last.BytesTotal, files, bytes)
		}
	}
	check("first backup")
	check("unchanged")
	for i := 60; i < 100; i++ {
		write(i, 5000+i)
	}
	check("40 files added")
	for i := 0; i < 80; i++ {
		if err := os.Remove(filepath.Join(src, fmt.Sprintf("d%d", i%7), fmt.Sprintf("f%03d", i))); err != nil {
			t.Fatal(err)
		}
	}
	check("80 files removed")
}

// A backup of an unchanged tree stores no directory listing anew (each
// directory reuses its parent snapshot's), while a change of metadata
// alone deep in the tree (a mode, an mtime) is recorded: each snapshot
// restores the modes and times its files had then.
func TestUnchangedListingsAreReusedAndChangesRecorded(t *testing.T) {
	src := t.TempDir()
	f := filepath.Join(src, "a", "b", "c", "f.txt")
	writeFile(t, f, "same bytes\n", 0o644)
	writeFile(t, filepath.Join(src, "top.txt"), "top\n", 0o600)
	e := openLocal(t)
	incremental := func() *engine.BackupResult {
		t.Helper()
		return backup(t, e, engine.BackupRequest{Paths: []string{src}, Target: "x", Type: engine.TypeIncremental})
	}
	first := incremental()
	same := incremental()
	if same.BlobBytesNew != 0 || same.FilesUnchanged != 2 {
		t.Errorf("unchanged backup: %d new blob bytes, %d of 2 files unchanged", same.BlobBytesNew, same.FilesUnchanged)
	}
	if err := os.Chmod(f, 0o600); err != nil {
		t.Fatal(err)
	}
	chmodded := incremental()
	old := time.Date(2001, 2, 3, 4, 5, 6, 7, time.UTC)
	if err := os.Chtimes(f, old, old); err != nil {
		t.Fatal(err)
	}
	touched := incremental()
	for _, tc := range []struct {
		res   *engine.BackupResult
		mode  os.FileMode
		mtime bool // the old mtime
	}{{first, 0o644, false}, {same, 0o644, false}, {chmodded, 0o600, false}, {touched, 0o600, true}} {
		fi, err := os.Stat(filepath.Join(restored(t, e, tc.res.Snapshot.ID), f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != tc.mode || fi.ModTime().Equal(old) != tc.mtime {
			t.Errorf("snapshot %s restores mode %v mtime %v; want mode %v, old mtime %v", tc.res.Snapshot.ID[:8], fi.Mode().Perm(), fi.ModTime(), tc.mode, tc.mtime)
		}
	}
}

// A tree deeper than the walk keeps directories open for (it then looks
// entries up by path) backs up and restores whole, and a change at the
// bottom is seen by the next backup.
func TestDeepTreeBacksUpWhole(t *testing.T) {
	src := t.TempDir()
	p := src
	var files []string
	for i := range 150 {
		p = filepath.Join(p, fmt.Sprintf("d%d", i%10))
		f := filepath.Join(p, "f")
		writeFile(t, f, fmt.Sprintf("level %d\n", i), 0o644)
		files = append(files, f)
	}
	e := openLocal(t)
	incremental := func() string {
		t.Helper()
		res := backup(t, e, engine.BackupRequest{Paths: []string{src}, Target: "deep", Type: engine.TypeIncremental})
		if res.Snapshot.Files != int64(len(files)) || res.Snapshot.Dirs != int64(len(files))+1 {
			t.Fatalf("snapshot has %d files, %d dirs; want %d, %d", res.Snapshot.Files, res.Snapshot.Dirs, len(files), len(files)+1)
		}
		return res.Snapshot.ID
	}
	first := incremental()
	last := files[len(files)-1]
	writeFile(t, last, "changed at the bottom\n", 0o644)
	second := incremental()
	for _, tc := range []struct {
		snap, bottom string
	}{{first, fmt.Sprintf("level %d\n", len(files)-1)}, {second, "changed at the bottom\n"}} {
		dest := restored(t, e, tc.snap)
		for i, f := range files {
			got, err := os.ReadFile(filepath.Join(dest, f))
			want := fmt.Sprintf("level %d\n", i)
			if f == last {
				want = tc.bottom
			}
			if err != nil || string(got) != want {
				t.Fatalf("snapshot %s, level %d: %q, %v; want %q", tc.snap[:8], i, got, err, want)
			}
		}
	}
}

// An unchanged file's extended attributes are taken from the parent
// snapshot rather than read again; setting or removing one changes the
// file's ctime, so the next backup reads them afresh: a restore of each
// snapshot gives the attributes the file had then.
func TestXattrChangeIsSeenByTheNextBackup(t *testing.T) {
	src := t.TempDir()
	f := filepath.Join(src, "doc.txt")
	writeFile(t, f, "same content\n", 0o644)
	set := func(v string) {
		t.Helper()
		if err := unix.Setxattr(f, "user.label", []byte(v), 0); err != nil {
			t.Fatalf("setxattr (needs a filesystem with user xattrs): %v", err)
		}
	}
	set("first")
	e := openLocal(t)
	incremental := func() string {
		t.Helper()
		return backup(t, e, engine.BackupRequest{Paths: []string{src}, Target: "x", Type: engine.TypeIncremental}).Snapshot.ID
	}
	first := incremental()
	unchanged := incremental() // nothing changed: attributes come from the parent
	set("second")
	second := incremental()
	if err := unix.Removexattr(f, "user.label"); err != nil {
		t.Fatal(err)
	}
	third := incremental()
	for _, tc := range []struct{ snap, want string }{{first, "first"}, {unchanged, "first"}, {second, "second"}, {third, ""}} {
		buf := make([]byte, 64)
		n, err := unix.Getxattr(filepath.Join(restored(t, e, tc.snap), f), "user.label", buf)
		got := ""
		if err == nil {
			got = string(buf[:n])
		}
		if got != tc.want {
			t.Errorf("snapshot %s restores user.label %q, want %q", tc.snap[:8], got, tc.want)
		}
	}
}
