package backend_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/storage/backend"
)

func TestBucketNamesObjectsAndStore(t *testing.T) {
	for _, c := range []struct {
		prefix, location, object string
	}{
		{"", "s3:b", "data/ab"},
		{"/", "s3:b", "data/ab"},
		{"team-a", "s3:b/team-a", "team-a/data/ab"},
		{"/team-a/x/", "s3:b/team-a/x", "team-a/x/data/ab"},
	} {
		b := backend.NewBucket("s3", "b", c.prefix)
		if got := b.Location(); got != c.location {
			t.Errorf("prefix %q: Location() = %q; want %q", c.prefix, got, c.location)
		}
		if got, err := b.Object("data/ab"); err != nil || got != c.object {
			t.Errorf("prefix %q: Object = %q, %v; want %q", c.prefix, got, err, c.object)
		}
		if got := b.Key(c.object); got != "data/ab" {
			t.Errorf("prefix %q: Key(%q) = %q; want data/ab", c.prefix, c.object, got)
		}
		if got, want := b.Op("get", "k"), "s3 storage "+c.location+": get k"; got != want {
			t.Errorf("Op = %q; want %q", got, want)
		}
	}
	b := backend.NewBucket("azure", "c", "p")
	for _, key := range []string{"", "/abs"} {
		if _, err := b.Object(key); !errors.Is(err, backend.ErrPermanent) || !strings.Contains(err.Error(), "azure storage azure:c/p") {
			t.Errorf("Object(%q) = %v; want a permanent error naming the store", key, err)
		}
	}
}

func TestCheckFileKey(t *testing.T) {
	for _, key := range []string{"config", "data/ab/abcdef", "locks/x.tmp-1"} {
		if err := backend.CheckFileKey(key, `\:`); err != nil {
			t.Errorf("CheckFileKey(%q) = %v; want nil", key, err)
		}
	}
	for _, key := range []string{"", "/etc/passwd", "../x", "data/../../x", ".", "..", "a//b", `a\b`, "a:b", "data/.tmp-0123"} {
		if err := backend.CheckFileKey(key, `\:`); !errors.Is(err, backend.ErrPermanent) {
			t.Errorf("CheckFileKey(%q) = %v; want a permanent error", key, err)
		}
	}
}

func TestFileListingRules(t *testing.T) {
	if got := backend.ListFrom("data/ab/"); got != "data/ab" {
		t.Errorf("ListFrom(data/ab/) = %q", got)
	}
	if got := backend.ListFrom("snap"); got != "" {
		t.Errorf("ListFrom(snap) = %q; want the root", got)
	}
	for dir, want := range map[string]bool{"data": true, "data/ab": true, "data/cd": false, "index": false} {
		if got := backend.ListsInto(dir, "data/ab/"); got != want {
			t.Errorf("ListsInto(%q, data/ab/) = %v; want %v", dir, got, want)
		}
	}
	if !backend.Lists("data/ab/x", "x", "data/") || backend.Lists("data/ab/.tmp-1", ".tmp-1", "data/") || backend.Lists("index/x", "x", "data/") {
		t.Error("Lists must show files under the prefix, and no temporary file")
	}
}

// TestGetRange plays a server of a 10-byte object that refuses a range
// starting at or past the end (416) and clips one that runs past it.
func TestGetRange(t *testing.T) {
	const size = 10
	stat := func(context.Context, string) (backend.Info, error) { return backend.Info{Size: size}, nil }
	get := func(offset, length int64) (string, error) {
		fetch := func() (io.ReadCloser, int64, error) {
			if length == 0 {
				t.Fatal("GetRange asked the server for zero bytes")
			}
			if offset >= size {
				return nil, 0, backend.ErrRangeNotSatisfiable
			}
			n := size - offset
			if length > 0 {
				n = min(n, length)
			}
			return io.NopCloser(strings.NewReader(strings.Repeat("x", int(n)))), n, nil
		}
		rc, err := backend.GetRange(context.Background(), "test storage", "k", offset, length, stat, fetch)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		return string(b), err
	}
	for _, c := range []struct {
		offset, length int64
		want           int // bytes; -1: a permanent error
	}{
		{0, -1, 10}, {3, 4, 4}, {10, -1, 0}, {10, 0, 0}, {4, 0, 0},
		{-1, 1, -1}, {11, 0, -1}, {11, -1, -1}, {10, 1, -1}, {8, 5, -1},
	} {
		got, err := get(c.offset, c.length)
		if c.want < 0 {
			if !errors.Is(err, backend.ErrPermanent) {
				t.Errorf("GetRange(%d, %d) = %q, %v; want a permanent error", c.offset, c.length, got, err)
			}
			continue
		}
		if err != nil || len(got) != c.want {
			t.Errorf("GetRange(%d, %d) = %d bytes, %v; want %d bytes", c.offset, c.length, len(got), err, c.want)
		}
	}
}

func TestPositiveOr(t *testing.T) {
	if backend.PositiveOr(0, 8) != 8 || backend.PositiveOr(-3, 8) != 8 || backend.PositiveOr(int64(5), 8) != 5 {
		t.Error("PositiveOr must keep a positive value and default the rest")
	}
}
