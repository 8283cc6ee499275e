package archiver

import (
	"net"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The walk looks entries up in their open directory; what it gets is
// what os.Lstat gives, for every kind of entry and mode bit, and the same
// again once it holds too many directories open to keep this one.
func TestDirLstatIsOsLstat(t *testing.T) {
	src := t.TempDir()
	mk := func(name string, perm os.FileMode) {
		t.Helper()
		p := filepath.Join(src, name)
		if err := os.WriteFile(p, []byte("data"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, perm); err != nil {
			t.Fatal(err)
		}
	}
	mk("plain", 0o644)
	mk("setuid", 0o4755|os.ModeSetuid|os.ModeSetgid)
	if err := os.Mkdir(filepath.Join(src, "sticky"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(src, "sticky"), 0o1777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("plain", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(src, "plain"), filepath.Join(src, "hard")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(src, "fifo"), 0o640); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(src, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, limit := range []int{0, maxOpenDirs} {
		a := &archiver{openDirs: limit}
		d, err := a.openDir(src)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"fifo", "hard", "link", "plain", "setuid", "sock", "sticky"}; !reflect.DeepEqual(d.names, want) {
			t.Fatalf("names %v, want %v", d.names, want)
		}
		for _, name := range d.names {
			full := filepath.Join(src, name)
			got, err := d.lstat(full, name)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.Lstat(full)
			if err != nil {
				t.Fatal(err)
			}
			if got.Name() != want.Name() || got.Size() != want.Size() || got.Mode() != want.Mode() || !got.ModTime().Equal(want.ModTime()) ||
				got.IsDir() != want.IsDir() || !reflect.DeepEqual(got.Sys().(*syscall.Stat_t), want.Sys().(*syscall.Stat_t)) {
				t.Errorf("open dirs %d: %s: got %v %d %v %v, os.Lstat %v %d %v %v", limit, name,
					got.Name(), got.Size(), got.Mode(), got.Sys(), want.Name(), want.Size(), want.Mode(), want.Sys())
			}
		}
		if _, err := d.lstat(filepath.Join(src, "gone"), "gone"); !os.IsNotExist(err) {
			t.Errorf("open dirs %d: a missing entry gives %v", limit, err)
		}
		a.closeDir(d)
		if a.openDirs != limit {
			t.Errorf("open dirs %d after closing, want %d", a.openDirs, limit)
		}
	}
}
