// Package local is the backend for a directory on this machine or on a
// mounted network share (SMB/NFS). Objects are plain files named by their
// keys; writes go to a temporary file in the same directory that is synced
// and renamed into place, so a reader never sees a partial object.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backupbot/backupbot/storage/backend"
)

// Backend stores objects as files under one directory.
type Backend struct {
	dir string
	// noSync skips fsync calls (tests and benchmarks on throwaway data only).
	noSync bool
}

// Option changes how a Backend behaves.
type Option func(*Backend)

// WithoutSync skips fsync after writes. A crash of the machine (not of the
// process) may then lose recent objects; use it only for throwaway data.
func WithoutSync() Option { return func(b *Backend) { b.noSync = true } }

// New returns a backend rooted at dir, creating the directory if needed.
func New(dir string, opts ...Option) (*Backend, error) {
	if dir == "" {
		return nil, fmt.Errorf("local storage: no directory given: set the storage's path in the configuration or pass --path: %w", backend.ErrPermanent)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("local storage %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		if cerr := (&Backend{dir: abs}).classify("creating the directory", err); backend.IsPermanent(cerr) {
			return nil, cerr
		}
		return nil, fmt.Errorf("local storage %s: cannot create the directory: %w: %w", abs, err, backend.ErrPermanent)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("local storage %s: %w", abs, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("local storage %s: not a directory: %w", abs, backend.ErrPermanent)
	}
	b := &Backend{dir: abs}
	for _, o := range opts {
		o(b)
	}
	return b, nil
}

// Dir returns the absolute directory the backend stores its objects in.
func (b *Backend) Dir() string { return b.dir }

// Location implements backend.Backend.
func (b *Backend) Location() string { return "local:" + b.dir }

// filename maps a key to its file, refusing keys that would leave the
// root, and checks that ctx has not ended before operation op starts.
func (b *Backend) filename(ctx context.Context, op, key string) (string, error) {
	if err := backend.CheckFileKey(key, `\`); err != nil {
		return "", fmt.Errorf("local storage %s: %w", b.dir, err)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("local storage: %s %s: %w", op, key, err)
	}
	return filepath.Join(b.dir, filepath.FromSlash(key)), nil
}

// Put implements backend.Backend: the body goes to a temporary file in the
// destination directory, which is synced, renamed over the key and followed
// by a sync of the directory.
func (b *Backend) Put(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
	return b.put(ctx, key, body, size, false)
}

// Create implements backend.Creator: the finished temporary file is hard
// linked to its name, which fails when the name exists, so of two
// concurrent creators exactly one wins.
func (b *Backend) Create(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
	return b.put(ctx, key, body, size, true)
}

func (b *Backend) put(ctx context.Context, key string, body io.ReadSeeker, size int64, exclusive bool) (err error) {
	name, err := b.filename(ctx, "put", key)
	if err != nil {
		return err
	}
	if _, err := body.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("local storage: put %s: rewinding the body: %w", key, err)
	}
	dir := filepath.Dir(name)
	if err := b.mkdirAll(dir); err != nil {
		return b.classify("put "+key, err)
	}
	tmp := filepath.Join(dir, backend.TempName())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return b.classify("put "+key, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	n, err := io.Copy(f, backend.ContextReader(ctx, body))
	if err != nil {
		return b.classify("put "+key+": writing", err)
	}
	if size >= 0 && n != size {
		return fmt.Errorf("local storage: put %s: body had %d bytes, expected %d: %w", key, n, size, backend.ErrPermanent)
	}
	if !b.noSync {
		if err = f.Sync(); err != nil {
			return b.classify("put "+key+": sync", err)
		}
	}
	if err = f.Close(); err != nil {
		return b.classify("put "+key+": close", err)
	}
	if err = ctx.Err(); err != nil {
		return fmt.Errorf("local storage: put %s: %w", key, err)
	}
	if exclusive {
		err = os.Link(tmp, name)
		_ = os.Remove(tmp)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("local storage: create %s: %w", key, backend.ErrExists)
		}
		if err != nil {
			return b.classify("create "+key, err)
		}
	} else if err = os.Rename(tmp, name); err != nil {
		return b.classify("put "+key, err)
	}
	if !b.noSync {
		if err := syncDir(dir); err != nil {
			return b.classify("put "+key+": sync directory", err)
		}
	}
	return nil
}

// mkdirAll creates dir and syncs the parent of every directory it made, so
// that a new directory survives a machine crash with its contents.
func (b *Backend) mkdirAll(dir string) error {
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir && len(parent) >= len(b.dir) {
		if err := b.mkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if !b.noSync {
		return syncDir(parent)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	// Some network file systems do not support syncing directories.
	if errors.Is(err, os.ErrInvalid) || errors.Is(err, errors.ErrUnsupported) {
		return nil
	}
	return err
}

// Get implements backend.Backend.
func (b *Backend) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	name, err := b.filename(ctx, "get", key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, b.wrapMissing("get", key, err)
	}
	rc, err := backend.ReadRange(f, offset, length)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, b.wrapMissing("get", key, err) // a directory, as Stat says
	}
	if err != nil {
		return nil, fmt.Errorf("local storage: get %s: %w", key, err)
	}
	return rc, nil
}

// Stat implements backend.Backend.
func (b *Backend) Stat(ctx context.Context, key string) (backend.Info, error) {
	name, err := b.filename(ctx, "stat", key)
	if err != nil {
		return backend.Info{}, err
	}
	st, err := os.Stat(name)
	if err != nil {
		return backend.Info{}, b.wrapMissing("stat", key, err)
	}
	if st.IsDir() {
		return backend.Info{}, fmt.Errorf("local storage: stat %s: %w", key, backend.ErrNotFound)
	}
	return backend.Info{Key: key, Size: st.Size(), ModTime: st.ModTime()}, nil
}

// List implements backend.Backend. It walks only the directory that can
// hold keys with the prefix, in lexical order, and reads what it reports
// of each file relative to its open directory (fstatat), not by full
// path: a repository of thousands of snapshots is listed by every job.
func (b *Backend) List(ctx context.Context, prefix string, fn func(backend.Info) error) error {
	root := filepath.Join(b.dir, filepath.FromSlash(backend.ListFrom(prefix)))
	rel, err := filepath.Rel(b.dir, root)
	if err != nil {
		return b.classify(fmt.Sprintf("list %q", prefix), err)
	}
	if rel == "." {
		rel = ""
	}
	if err := list(ctx, root, filepath.ToSlash(rel), prefix, fn); err != nil {
		return b.classify(fmt.Sprintf("list %q", prefix), err)
	}
	return nil
}

// list lists directory dir, whose key is dirKey ("" for the root), and
// the directories under it that can hold keys with the prefix. A directory
// that is not there (any more) lists nothing.
func list(ctx context.Context, dir, dirKey, prefix string, fn func(backend.Info) error) error {
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if err != nil {
		return err
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	fd := int(f.Fd())
	for _, d := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		key := d.Name()
		if dirKey != "" {
			key = dirKey + "/" + key
		}
		if d.IsDir() {
			// Only directories that can contain a matching key.
			if backend.ListsInto(key, prefix) {
				if err := list(ctx, filepath.Join(dir, d.Name()), key, prefix, fn); err != nil {
					return err
				}
			}
			continue
		}
		if !backend.Lists(key, d.Name(), prefix) || !d.Type().IsRegular() {
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstatat(fd, d.Name(), &st, unix.AT_SYMLINK_NOFOLLOW); errors.Is(err, unix.ENOENT) {
			continue // deleted while listing
		} else if err != nil {
			return &fs.PathError{Op: "lstat", Path: filepath.Join(dir, d.Name()), Err: err}
		}
		if err := fn(backend.Info{Key: key, Size: st.Size, ModTime: time.Unix(st.Mtim.Unix())}); err != nil {
			return err
		}
	}
	return nil
}

// Delete implements backend.Backend.
func (b *Backend) Delete(ctx context.Context, key string) error {
	name, err := b.filename(ctx, "delete", key)
	if err != nil {
		return err
	}
	if err := os.Remove(name); err != nil {
		return b.wrapMissing("delete", key, err)
	}
	return nil
}

// Close implements backend.Backend; a local backend holds no resources.
func (b *Backend) Close() error { return nil }

func (b *Backend) wrapMissing(op, key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("local storage %s: %s %s: %w", b.dir, op, key, backend.ErrNotFound)
	}
	return b.classify(op+" "+key, err)
}
