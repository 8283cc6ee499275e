package repo

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A worker opens the same repository for every job: with a Cache the key
// is derived once, a wrong password is still refused, and a snapshot file
// changed on disk after it was cached is read again (and found damaged).
func TestCachedOpens(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	b := localAt(t, dir)
	r0 := newRepoOn(t, b, "secret")
	for _, name := range []string{"first", "second"} {
		if err := r0.SaveSnapshot(ctx, &Snapshot{Time: time.Now(), Name: name, Paths: []string{"/x"}}); err != nil {
			t.Fatal(err)
		}
	}

	c := NewCache()
	open := func(password string) (*Repository, error) {
		r, err := OpenCached(ctx, b, password, nil, c)
		if err == nil {
			t.Cleanup(func() { r.Close() })
		}
		return r, err
	}
	r1, err := open("secret")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r2, err := open("secret")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.wraps) != 1 {
		t.Fatalf("%d derived keys cached after two opens with one password, want 1", len(c.wraps))
	}
	t.Logf("second open took %v", time.Since(start))
	if _, err := open("wrong"); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("a cached open with a wrong password: %v, want ErrWrongPassword", err)
	}

	snaps, bad, err := r1.LoadSnapshots(ctx)
	if err != nil || len(snaps) != 2 || len(bad) != 0 {
		t.Fatalf("first load: %d snapshots, %v unreadable, err %v", len(snaps), bad, err)
	}
	if len(c.snaps) != 2 {
		t.Fatalf("%d snapshots cached, want 2", len(c.snaps))
	}

	// Damage one snapshot file in place (same size, new mtime) and
	// delete the other: the cache must not hide either.
	files, err := filepath.Glob(filepath.Join(dir, "snapshots", "*"))
	if err != nil || len(files) != 2 {
		t.Fatalf("snapshot files: %v %v", files, err)
	}
	buf, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	buf[len(buf)/2] ^= 0xff
	if err := os.WriteFile(files[0], buf, 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Second)
	if err := os.Chtimes(files[0], later, later); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(files[1]); err != nil {
		t.Fatal(err)
	}
	snaps, bad, err = r2.LoadSnapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 0 || len(bad) != 1 || !strings.Contains(bad[0].Key, filepath.Base(files[0])) {
		t.Fatalf("after damaging one snapshot file and deleting the other: %d snapshots, unreadable %v; want none and the damaged one", len(snaps), bad)
	}
}
