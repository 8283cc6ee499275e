package backend

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/backupbot/backupbot/internal/randid"
)

// TempPrefix starts the names of the temporary files that the backends
// keeping objects as files (local, SMB) write an object into before they
// rename it into place. Their listings skip such files and no key may
// name one.
const TempPrefix = ".tmp-"

// TempName returns a fresh name for such a temporary file.
func TempName() string { return TempPrefix + randid.Hex(8) }

// CheckFileKey refuses a key that a backend keeping objects as files
// cannot store: an empty or absolute one, one that is not clean or would
// leave the backend's directory, one with a character of forbidden, or
// one that names a temporary file. The error wraps ErrPermanent.
func CheckFileKey(key, forbidden string) error {
	if key == "" || strings.HasPrefix(key, "/") || path.Clean(key) != key || key == "." ||
		strings.HasPrefix(key, "../") || key == ".." || strings.ContainsAny(key, forbidden) {
		return fmt.Errorf("invalid key %q: %w", key, ErrPermanent)
	}
	if strings.HasPrefix(path.Base(key), TempPrefix) {
		return fmt.Errorf("invalid key %q (reserved name): %w", key, ErrPermanent)
	}
	return nil
}

// ListFrom returns the directory a file listing of keys with prefix starts
// in: the key of the directory before prefix's last slash ("" for the root).
func ListFrom(prefix string) string {
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		return prefix[:i]
	}
	return ""
}

// ListsInto reports whether a file listing of keys with prefix must read
// the directory whose key is dirKey: only one that can hold such keys.
func ListsInto(dirKey, prefix string) bool {
	return strings.HasPrefix(dirKey+"/", prefix) || strings.HasPrefix(prefix, dirKey+"/")
}

// Lists reports whether a file listing of keys with prefix shows the
// regular file key, named name in its directory: not a temporary file.
func Lists(key, name, prefix string) bool {
	return strings.HasPrefix(key, prefix) && !strings.HasPrefix(name, TempPrefix)
}

// ContextReader returns a reader of r that stops with ctx's error once
// ctx ends, so that a copy from r stops when the call is cancelled.
func ContextReader(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx: ctx, r: r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
