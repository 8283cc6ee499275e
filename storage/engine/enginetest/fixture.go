package enginetest

import (
	"bytes"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/backupbot/backupbot/internal/randid"
)

// randomBytes returns n bytes of deterministic pseudo-random data.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n - n%8; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func write(t *testing.T, path string, data []byte, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// makeFixture builds a tree with what a round trip must keep: small, large
// and empty files, empty directories, symlinks, unusual names, modes and
// old mtimes.
func makeFixture(t *testing.T, dir string) {
	t.Helper()
	old := time.Date(2020, 2, 29, 13, 14, 15, 123456789, time.UTC)
	files := []struct {
		name string
		data []byte
		mode fs.FileMode
	}{
		{"small.txt", []byte("hello, backups\n"), 0o644},
		{"empty", nil, 0o600},
		{"large.bin", randomBytes(1, 5<<20+123), 0o640},
		{"text/log.txt", bytes.Repeat([]byte("2024-01-01 INFO compressible line of a log file\n"), 40000), 0o644},
		{"with space/file name with spaces.txt", []byte("spaces"), 0o644},
		{"unicodé/日本語-ファイル.txt", []byte("unicode"), 0o644},
		{"-leading-dash", []byte("dash"), 0o755},
		{"--double", []byte("double dash"), 0o700},
		{"deep/a/b/c/d/e/f/leaf", []byte("deep"), 0o444},
		{"bad-utf8-\xff\xfe-name", []byte("invalid utf-8 in the name"), 0o644},
		{"exec.sh", []byte("#!/bin/sh\necho hi\n"), 0o755},
	}
	for _, f := range files {
		write(t, filepath.Join(dir, f.name), f.data, f.mode)
	}
	for _, d := range []string{"empty-dir", "deep/empty/nested-empty"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("small.txt", filepath.Join(dir, "link-to-small")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nonexistent/target with space", filepath.Join(dir, "dangling link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("deep/a", filepath.Join(dir, "dir-link")); err != nil {
		t.Fatal(err)
	}
	// Old mtimes everywhere, set bottom-up so directories keep theirs.
	var paths []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != dir {
			paths = append(paths, p)
		}
		return nil
	})
	sort.Sort(sort.Reverse(sort.StringSlice(paths)))
	for i, p := range paths {
		mt := old.Add(time.Duration(i) * time.Hour)
		ts := []syscall.Timespec{syscall.NsecToTimespec(mt.UnixNano()), syscall.NsecToTimespec(mt.UnixNano())}
		if err := lutimes(p, ts); err != nil {
			t.Fatal(err)
		}
	}
}

// entry is what compareTrees checks for one path.
type entry struct {
	mode    fs.FileMode
	mtime   time.Time
	size    int64
	target  string
	content []byte
	uid     uint32
	gid     uint32
}

func scan(t *testing.T, root string) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		e := entry{mode: fi.Mode(), mtime: fi.ModTime()}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			e.uid, e.gid = st.Uid, st.Gid
		}
		switch {
		case fi.Mode().IsRegular():
			e.size = fi.Size()
			if e.content, err = os.ReadFile(p); err != nil {
				return err
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			if e.target, err = os.Readlink(p); err != nil {
				return err
			}
		}
		if rel == "." {
			e.mtime = time.Time{} // the root's own mtime is compared by callers that care
		}
		out[rel] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// compareTrees fails unless got holds exactly want's entries, byte for
// byte and metadata for metadata.
func compareTrees(t *testing.T, want, got string) {
	t.Helper()
	w, g := scan(t, want), scan(t, got)
	for p, we := range w {
		ge, ok := g[p]
		if !ok {
			t.Errorf("restore lacks %q", p)
			continue
		}
		if we.mode != ge.mode {
			t.Errorf("%q: mode %v, want %v", p, ge.mode, we.mode)
		}
		if !we.mtime.Equal(ge.mtime) {
			t.Errorf("%q: mtime %v, want %v", p, ge.mtime, we.mtime)
		}
		if we.target != ge.target {
			t.Errorf("%q: symlink target %q, want %q", p, ge.target, we.target)
		}
		if we.size != ge.size || !bytes.Equal(we.content, ge.content) {
			t.Errorf("%q: content differs (%d bytes, want %d)", p, ge.size, we.size)
		}
		if we.uid != ge.uid || we.gid != ge.gid {
			t.Errorf("%q: owner %d:%d, want %d:%d", p, ge.uid, ge.gid, we.uid, we.gid)
		}
	}
	for p := range g {
		if _, ok := w[p]; !ok {
			t.Errorf("restore has %q, which the source does not", p)
		}
	}
}

func randomName() string { return "uniq" + randid.Hex(8) }
