package local_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/backend/backendtest"
	"github.com/backupbot/backupbot/storage/local"
	"github.com/backupbot/backupbot/storage/local/localtest"
)

// TestConformance runs the backend contract with and without the fsync
// calls (WithoutSync, which tests and benchmarks use on throwaway data).
func TestConformance(t *testing.T) {
	for name, opts := range map[string][]local.Option{"Synced": nil, "WithoutSync": {local.WithoutSync()}} {
		t.Run(name, func(t *testing.T) {
			backendtest.Run(t, func(t *testing.T) backend.Backend { return localtest.New(t, opts...) })
		})
	}
}

func TestKeysCannotLeaveTheDirectory(t *testing.T) {
	b := localtest.New(t)
	for _, key := range []string{"../escape", "/etc/passwd", "data/../../x", "", "data/.tmp-abc"} {
		if err := b.Put(t.Context(), key, strings.NewReader("x"), 1); !errors.Is(err, backend.ErrPermanent) {
			t.Errorf("Put(%q) = %v; want a permanent error", key, err)
		}
	}
}

func TestNewRefusesAFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := local.New(f); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("New(a file) = %v; want a 'not a directory' error", err)
	}
}

func TestListSkipsUnfinishedWrites(t *testing.T) {
	b := localtest.New(t)
	dir := b.Dir()
	if err := os.MkdirAll(filepath.Join(dir, "data", "ab"), 0o700); err != nil {
		t.Fatal(err)
	}
	// What a process killed in the middle of Put leaves behind.
	if err := os.WriteFile(filepath.Join(dir, "data", "ab", ".tmp-0123"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := b.List(t.Context(), "data/", func(backend.Info) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("List showed %d objects; a temporary file of an unfinished Put must not be listed", n)
	}
}

// A directory is no object: Get of its key is ErrNotFound, as Stat says
// (it used to return a reader that failed on the first read).
func TestGetOfADirectoryIsNotFound(t *testing.T) {
	b := localtest.New(t)
	if err := b.Put(t.Context(), "data/ab/x", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(t.Context(), "data/ab", 0, -1); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Get(a directory) = %v; want ErrNotFound", err)
	}
	if _, err := b.Stat(t.Context(), "data/ab"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Stat(a directory) = %v; want ErrNotFound", err)
	}
}
