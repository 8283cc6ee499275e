package local_test

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/local"
)

// tmpfs mounts a tmpfs of size bytes on a new directory for the test.
func tmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.Itoa(size)); err != nil {
		t.Fatalf("mounting a tmpfs on %s (needs root, as `make test` runs): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}

// A full file system and a read-only one are permanent errors that say
// what happened and what to do; the partial object is not left behind.
func TestFullAndReadOnlyStorageArePermanent(t *testing.T) {
	ctx := context.Background()
	dir := tmpfs(t, 1<<20)
	b, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte{7}, 2<<20)
	err = b.Put(ctx, "data/ab/big", bytes.NewReader(big), int64(len(big)))
	if !errors.Is(err, backend.ErrNoSpace) || !errors.Is(err, backend.ErrPermanent) {
		t.Fatalf("put on a full file system: %v; want ErrNoSpace and ErrPermanent", err)
	}
	if !strings.Contains(err.Error(), "no space left on the storage") || !strings.Contains(err.Error(), "free space") {
		t.Errorf("error %q does not say the storage is full and what to do", err)
	}
	n := 0
	if err := b.List(ctx, "", func(backend.Info) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d objects listed after the failed put, want 0", n)
	}

	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remounting %s read-only: %v", dir, err)
	}
	err = b.Put(ctx, "data/cd/small", bytes.NewReader([]byte("x")), 1)
	if !errors.Is(err, backend.ErrAccessDenied) || !errors.Is(err, backend.ErrPermanent) {
		t.Fatalf("put on a read-only file system: %v; want ErrAccessDenied and ErrPermanent", err)
	}
	if !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("error %q does not say permission was denied", err)
	}
}
