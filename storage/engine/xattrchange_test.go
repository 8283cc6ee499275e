package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/backupbot/backupbot/storage/engine"
)

// An unchanged file's extended attributes are taken from the parent
// snapshot rather than read again; setting or removing one changes the
// file's ctime, so the next backup reads them afresh: a restore of each
// snapshot gives the attributes the file had then.
func TestXattrChangeIsSeenByTheNextBackup(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	f := filepath.Join(src, "doc.txt")
	if err := os.WriteFile(f, []byte("same content\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	set := func(v string) {
		t.Helper()
		if err := unix.Setxattr(f, "user.label", []byte(v), 0); err != nil {
			t.Fatalf("setxattr (needs a filesystem with user xattrs): %v", err)
		}
	}
	set("first")
	e := openLocal(t)
	backup := func() string {
		t.Helper()
		res, err := e.Backup(ctx, engine.BackupRequest{Paths: []string{src}, Target: "x", Type: engine.TypeIncremental}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res.Snapshot.ID
	}
	first := backup()
	unchanged := backup() // nothing changed: attributes come from the parent
	set("second")
	second := backup()
	if err := unix.Removexattr(f, "user.label"); err != nil {
		t.Fatal(err)
	}
	third := backup()
	for _, tc := range []struct{ snap, want string }{{first, "first"}, {unchanged, "first"}, {second, "second"}, {third, ""}} {
		dest := t.TempDir()
		if _, err := e.Restore(ctx, engine.RestoreRequest{Snapshot: tc.snap, To: dest}, nil); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		n, err := unix.Getxattr(filepath.Join(dest, f), "user.label", buf)
		got := ""
		if err == nil {
			got = string(buf[:n])
		}
		if got != tc.want {
			t.Errorf("snapshot %s restores user.label %q, want %q", tc.snap[:8], got, tc.want)
		}
	}
}
