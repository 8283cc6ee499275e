// Package backendtest is the conformance suite for backend.Backend: every
// implementation (local, S3, Azure) runs the same tests, so the repository
// can rely on the contract written in the backend package.
package backendtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"

	"github.com/backupbot/backupbot/storage/backend"
)

// Run runs the conformance suite. newBackend must return an empty backend
// (a fresh directory, bucket prefix or container) for each subtest; it is
// closed by the suite.
func Run(t *testing.T, newBackend func(t *testing.T) backend.Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b backend.Backend)
	}{
		{"PutGetWhole", testPutGetWhole},
		{"GetRanges", testGetRanges},
		{"EmptyObject", testEmptyObject},
		{"LargeObject", testLargeObject},
		{"StatReportsSize", testStat},
		{"MissingKeys", testMissing},
		{"ListByPrefix", testList},
		{"ListStopsOnCallbackError", testListCallbackError},
		{"Overwrite", testOverwrite},
		{"PutRewindsBody", testPutRewinds},
		{"PutRejectsWrongSize", testPutRejectsWrongSize},
		{"Delete", testDelete},
		{"CancelledPutLeavesNothing", testCancelledPut},
		{"CancelledPutKeepsOldObject", testCancelledOverwrite},
		{"ConcurrentPuts", testConcurrentPuts},
		{"CreateIsExclusive", testCreateExclusive},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t)
			t.Cleanup(func() {
				if err := b.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			if b.Location() == "" {
				t.Fatal("Location() is empty; it must name the store for humans")
			}
			tc.fn(t, b)
		})
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		t.Fatal(err)
	}
	return buf
}

func put(t *testing.T, b backend.Backend, key string, data []byte) {
	t.Helper()
	if err := b.Put(context.Background(), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put(%q, %d bytes): %v", key, len(data), err)
	}
}

// Get reads length bytes of key from offset (length < 0: to the end) and
// fails the test when it cannot.
func Get(t testing.TB, b backend.Backend, key string, offset, length int64) []byte {
	t.Helper()
	rc, err := b.Get(context.Background(), key, offset, length)
	if err != nil {
		t.Fatalf("Get(%q, %d, %d): %v", key, offset, length, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading Get(%q, %d, %d): %v", key, offset, length, err)
	}
	return data
}

func listKeys(t *testing.T, b backend.Backend, prefix string) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	err := b.List(context.Background(), prefix, func(i backend.Info) error {
		if _, dup := got[i.Key]; dup {
			t.Errorf("List(%q) gave %q twice", prefix, i.Key)
		}
		got[i.Key] = i.Size
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return got
}

func testPutRejectsWrongSize(t *testing.T, b backend.Backend) {
	err := b.Put(context.Background(), "index/x", bytes.NewReader([]byte("four")), 5)
	if err == nil || !errors.Is(err, backend.ErrPermanent) {
		t.Fatalf("Put with a size that does not match the body: %v; want a permanent error", err)
	}
	if _, err := b.Stat(context.Background(), "index/x"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("after a Put refused for its size, Stat = %v; want not found", err)
	}
}

// RoundTrip puts size random bytes under key and reads them back whole:
// the backend-specific tests use it for their upload paths (multipart,
// staged blocks), what says which path in failures.
func RoundTrip(t *testing.T, b backend.Backend, key string, size int, what string) {
	t.Helper()
	data := randomBytes(t, size)
	put(t, b, key, data)
	if got := Get(t, b, key, 0, -1); !bytes.Equal(got, data) {
		t.Fatalf("%s: %d bytes read back differ from the %d put", what, len(got), len(data))
	}
}

// PrefixesKeepApart checks two backends on one bucket or container under
// different prefixes: each sees only its own objects. a is the one under
// prefix "team-a" and must be located at wantLocation.
func PrefixesKeepApart(t *testing.T, a, other backend.Backend, wantLocation string) {
	t.Helper()
	put(t, a, "config", []byte("a"))
	put(t, other, "config", []byte("bb"))
	if got := a.Location(); got != wantLocation {
		t.Errorf("Location() = %q; want %q", got, wantLocation)
	}
	if got := listKeys(t, a, ""); len(got) != 1 || got["config"] != 1 {
		t.Fatalf("List under team-a = %v; want config (1 byte) only", got)
	}
	if got := Get(t, other, "config", 0, -1); string(got) != "bb" {
		t.Fatalf("team-b config = %q; want %q", got, "bb")
	}
}

func testPutGetWhole(t *testing.T, b backend.Backend) {
	data := randomBytes(t, 100_000)
	put(t, b, "data/ab/abcdef", data)
	if got := Get(t, b, "data/ab/abcdef", 0, -1); !bytes.Equal(got, data) {
		t.Fatalf("Get returned %d bytes that differ from the %d put", len(got), len(data))
	}
	if got := Get(t, b, "data/ab/abcdef", 0, int64(len(data))); !bytes.Equal(got, data) {
		t.Fatal("Get with the exact length returned different bytes")
	}
}

func testGetRanges(t *testing.T, b backend.Backend) {
	data := randomBytes(t, 10_000)
	put(t, b, "index/range", data)
	cases := []struct{ off, n int64 }{{0, 1}, {0, 100}, {1234, 4000}, {9999, 1}, {5000, -1}, {10_000, 0}, {10_000, -1}}
	for _, c := range cases {
		want := data[c.off:]
		if c.n >= 0 {
			want = data[c.off : c.off+c.n]
		}
		if got := Get(t, b, "index/range", c.off, c.n); !bytes.Equal(got, want) {
			t.Errorf("Get(offset %d, length %d): got %d bytes, want %d matching bytes", c.off, c.n, len(got), len(want))
		}
	}
	for _, c := range []struct{ off, n int64 }{{9_990, 20}, {20_000, 1}} {
		rc, err := b.Get(context.Background(), "index/range", c.off, c.n)
		if err == nil {
			_, err = io.ReadAll(rc)
			rc.Close()
		}
		if err == nil {
			t.Errorf("Get(offset %d, length %d) past the end of a 10000-byte object succeeded; want an error", c.off, c.n)
		}
	}
}

func testEmptyObject(t *testing.T, b backend.Backend) {
	put(t, b, "locks/empty", nil)
	if got := Get(t, b, "locks/empty", 0, -1); len(got) != 0 {
		t.Fatalf("empty object read back as %d bytes", len(got))
	}
	info, err := b.Stat(context.Background(), "locks/empty")
	if err != nil || info.Size != 0 {
		t.Fatalf("Stat(empty) = %+v, %v; want size 0", info, err)
	}
}

func testLargeObject(t *testing.T, b backend.Backend) {
	data := randomBytes(t, 9<<20+12345)
	put(t, b, "data/9f/large", data)
	if got := Get(t, b, "data/9f/large", 0, -1); !bytes.Equal(got, data) {
		t.Fatalf("a 9 MiB object read back as %d different bytes", len(got))
	}
	if got := Get(t, b, "data/9f/large", 6<<20, 1<<20); !bytes.Equal(got, data[6<<20:7<<20]) {
		t.Fatal("a 1 MiB range from the middle of a 9 MiB object differs")
	}
}

func testStat(t *testing.T, b backend.Backend) {
	put(t, b, "snapshots/s1", randomBytes(t, 777))
	info, err := b.Stat(context.Background(), "snapshots/s1")
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != 777 || info.Key != "snapshots/s1" {
		t.Fatalf("Stat = %+v; want key snapshots/s1 size 777", info)
	}
}

func testMissing(t *testing.T, b backend.Backend) {
	ctx := context.Background()
	if _, err := b.Get(ctx, "data/00/missing", 0, -1); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Get of a missing key: %v; want an error wrapping backend.ErrNotFound", err)
	}
	if _, err := b.Stat(ctx, "data/00/missing"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Stat of a missing key: %v; want an error wrapping backend.ErrNotFound", err)
	}
	if err := b.Delete(ctx, "data/00/missing"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Delete of a missing key: %v; want an error wrapping backend.ErrNotFound", err)
	}
	if got := listKeys(t, b, "nothing-here/"); len(got) != 0 {
		t.Errorf("List of an empty prefix gave %v", got)
	}
}

func testList(t *testing.T, b backend.Backend) {
	keys := map[string]int64{
		"config": 10, "keys/k1": 20, "data/ab/ab01": 30, "data/ab/ab02": 31,
		"data/cd/cd01": 40, "snapshots/s1": 50, "snapshots/s2": 51, "index/i1": 60,
	}
	for k, n := range keys {
		put(t, b, k, randomBytes(t, int(n)))
	}
	cases := map[string][]string{
		"":           slices.Sorted(mapKeys(keys)),
		"data/":      {"data/ab/ab01", "data/ab/ab02", "data/cd/cd01"},
		"data/ab/":   {"data/ab/ab01", "data/ab/ab02"},
		"data/ab/ab": {"data/ab/ab01", "data/ab/ab02"},
		"snapshots/": {"snapshots/s1", "snapshots/s2"},
		"keys/":      {"keys/k1"},
		"conf":       {"config"},
	}
	for prefix, want := range cases {
		got := listKeys(t, b, prefix)
		if !slices.Equal(slices.Sorted(mapKeys(got)), want) {
			t.Errorf("List(%q) = %v; want %v", prefix, slices.Sorted(mapKeys(got)), want)
		}
		for k, n := range got {
			if keys[k] != n {
				t.Errorf("List(%q) reports %s with size %d; want %d", prefix, k, n, keys[k])
			}
		}
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func testListCallbackError(t *testing.T, b backend.Backend) {
	for i := range 5 {
		put(t, b, fmt.Sprintf("snapshots/s%d", i), []byte("x"))
	}
	stop := errors.New("stop here")
	calls := 0
	err := b.List(context.Background(), "snapshots/", func(backend.Info) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) {
		t.Fatalf("List returned %v; want the callback's error", err)
	}
	if calls != 1 {
		t.Fatalf("List called fn %d times after it returned an error; want 1", calls)
	}
}

func testOverwrite(t *testing.T, b backend.Backend) {
	put(t, b, "index/same", []byte("first version, longer than the second"))
	put(t, b, "index/same", []byte("second"))
	if got := Get(t, b, "index/same", 0, -1); string(got) != "second" {
		t.Fatalf("after overwriting, Get = %q; want %q", got, "second")
	}
}

func testPutRewinds(t *testing.T, b backend.Backend) {
	data := []byte("the whole body, not its tail")
	r := bytes.NewReader(data)
	if _, err := r.Seek(10, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(context.Background(), "keys/rewind", r, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if got := Get(t, b, "keys/rewind", 0, -1); !bytes.Equal(got, data) {
		t.Fatalf("Put stored %q; want the body from its start %q", got, data)
	}
}

func testDelete(t *testing.T, b backend.Backend) {
	put(t, b, "locks/l1", []byte("lock"))
	put(t, b, "locks/l2", []byte("lock"))
	if err := b.Delete(context.Background(), "locks/l1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(context.Background(), "locks/l1", 0, -1); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Get after Delete: %v; want ErrNotFound", err)
	}
	if got := listKeys(t, b, "locks/"); len(got) != 1 || got["locks/l2"] != 4 {
		t.Fatalf("List after Delete = %v; want only locks/l2", got)
	}
}

// cancellingReader cancels its context once half the body has been read,
// then fails like a dropped connection.
type cancellingReader struct {
	data   []byte
	pos    int
	cancel context.CancelFunc
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	if c.pos >= len(c.data)/2 {
		c.cancel()
		return 0, context.Canceled
	}
	n := copy(p, c.data[c.pos:len(c.data)/2])
	c.pos += n
	return n, nil
}

func (c *cancellingReader) Seek(off int64, whence int) (int64, error) {
	if whence != io.SeekStart {
		return 0, errors.New("only SeekStart")
	}
	c.pos = int(off)
	return off, nil
}

func testCancelledPut(t *testing.T, b backend.Backend) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	data := randomBytes(t, 6<<20)
	err := b.Put(ctx, "data/cc/cancelled", &cancellingReader{data: data, cancel: cancel}, int64(len(data)))
	if err == nil {
		t.Fatal("Put whose context was cancelled midway succeeded")
	}
	if _, err := b.Stat(context.Background(), "data/cc/cancelled"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("after a cancelled Put, Stat = %v; want ErrNotFound (no partial object)", err)
	}
	if got := listKeys(t, b, "data/"); len(got) != 0 {
		t.Fatalf("after a cancelled Put, List shows %v; want nothing", got)
	}
}

func testCancelledOverwrite(t *testing.T, b backend.Backend) {
	old := randomBytes(t, 1000)
	put(t, b, "index/keep", old)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	data := randomBytes(t, 6<<20)
	if err := b.Put(ctx, "index/keep", &cancellingReader{data: data, cancel: cancel}, int64(len(data))); err == nil {
		t.Fatal("Put whose context was cancelled midway succeeded")
	}
	if got := Get(t, b, "index/keep", 0, -1); !bytes.Equal(got, old) {
		t.Fatalf("a cancelled overwrite left %d bytes; want the old %d bytes intact", len(got), len(old))
	}
}

func testConcurrentPuts(t *testing.T, b backend.Backend) {
	const n = 8
	datas := make([][]byte, n)
	for i := range datas {
		datas[i] = randomBytes(t, 50_000+i)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			key := fmt.Sprintf("data/%02x/concurrent-%d", i, i)
			errs[i] = b.Put(context.Background(), key, bytes.NewReader(datas[i]), int64(len(datas[i])))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Put %d: %v", i, err)
		}
		if got := Get(t, b, fmt.Sprintf("data/%02x/concurrent-%d", i, i), 0, -1); !bytes.Equal(got, datas[i]) {
			t.Fatalf("concurrent Put %d stored different bytes", i)
		}
	}
}

// testCreateExclusive checks backend.Creator, which every backend here
// implements: of several concurrent creators of one key exactly one wins,
// the others get ErrExists, and the winner's bytes stay.
func testCreateExclusive(t *testing.T, b backend.Backend) {
	c, ok := b.(backend.Creator)
	if !ok {
		t.Fatalf("%s does not implement backend.Creator (exclusive create), which the repository needs to create its config safely", b.Location())
	}
	ctx := context.Background()
	const n = 5
	bodies := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		bodies[i] = randomBytes(t, 100+i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Create(ctx, "config", bytes.NewReader(bodies[i]), int64(len(bodies[i])))
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("creators %d and %d both created the key", winner, i)
			}
			winner = i
		case !errors.Is(err, backend.ErrExists):
			t.Fatalf("creator %d: %v, want success or ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no creator won")
	}
	if got := Get(t, b, "config", 0, -1); !bytes.Equal(got, bodies[winner]) {
		t.Fatalf("the key holds %d bytes that are not the winner's %d", len(got), len(bodies[winner]))
	}
	again := []byte("later")
	if err := c.Create(ctx, "config", bytes.NewReader(again), int64(len(again))); !errors.Is(err, backend.ErrExists) {
		t.Fatalf("Create over an existing key: %v, want ErrExists", err)
	}
	if got := Get(t, b, "config", 0, -1); !bytes.Equal(got, bodies[winner]) {
		t.Fatal("a refused Create changed the object")
	}
}
