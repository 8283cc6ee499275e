// Package backend defines the seam between the repository and the places
// that hold its bytes: a small blob-store interface that a local directory,
// an S3 bucket and an Azure Blob container all implement, plus the errors
// every implementation returns in the same way. Retrying, rate limiting and
// fault injection are wrappers around a Backend, never inside one.
package backend

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNotFound is returned (wrapped) by Get, Stat and Delete when the key
// does not exist. Test for it with errors.Is.
var ErrNotFound = errors.New("not found")

// ErrPermanent marks an error that retrying cannot fix (bad credentials,
// missing bucket or container, access denied). Backends wrap such errors
// with it so the retry wrapper fails at once; test with errors.Is.
var ErrPermanent = errors.New("permanent storage error")

// ErrCredentials and ErrNoContainer say which permanent error it is, so a
// storage test can tell "wrong key" from "missing bucket or container".
// Remote backends wrap them together with ErrPermanent.
var (
	ErrCredentials = errors.New("credentials rejected")
	ErrNoContainer = errors.New("bucket or container does not exist")
)

// ErrNoSpace says the storage is full (a local disk or share with no
// space left, a quota reached, an S3 server out of drive space). Backends
// wrap it together with ErrPermanent: retrying cannot free space, the
// operator has to.
var ErrNoSpace = errors.New("no space left on the storage")

// ErrAccessDenied says the storage refused the operation for lack of
// permission (a directory the worker may not write, a read-only mount).
// Backends wrap it together with ErrPermanent.
var ErrAccessDenied = errors.New("permission denied by the storage")

// IsPermanent reports whether err is one that retrying cannot fix.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }

// ErrExists is returned (wrapped) by Creator.Create when the key is taken.
var ErrExists = errors.New("already exists")

// Creator is implemented by backends that can create an object only when
// its key is still free, atomically with respect to every other writer:
// the local backend with a hard link, S3 and Azure with a conditional
// request (If-None-Match: *). The repository uses it for the one object
// two writers must never both write: its config.
type Creator interface {
	// Create is Put that writes nothing and returns an error wrapping
	// ErrExists when key already exists.
	Create(ctx context.Context, key string, body io.ReadSeeker, size int64) error
}

// Info describes one stored object.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Backend is a flat store of immutable objects addressed by slash-separated
// keys ("data/ab/abcdef...", "snapshots/...", "locks/...").
//
// Contracts every implementation keeps:
//   - Put is atomic: readers see the whole object or none of it, never a
//     partial one, even if the writer crashes midway. Putting an existing key
//     replaces it whole. The body is read from its start; Put may Seek it back
//     to offset 0 (for a retry or a checksum pass).
//   - Get returns length bytes from offset (length < 0 means to the end).
//     A missing key gives an error wrapping ErrNotFound. The caller closes
//     the reader. A range past the end is an error.
//   - List calls fn for every object whose key starts with prefix, in no
//     particular order; listing may lag behind Put on eventually consistent
//     stores. An error from fn stops the listing and is returned.
//   - Delete of a missing key returns an error wrapping ErrNotFound.
//   - Every method honours ctx cancellation and wraps errors with the key
//     and location involved, never with credentials.
type Backend interface {
	// Location names the store for humans and logs: "local:/var/repo",
	// "s3:bucket/prefix", "azure:container/prefix". Never holds secrets.
	Location() string
	Put(ctx context.Context, key string, body io.ReadSeeker, size int64) error
	Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	Stat(ctx context.Context, key string) (Info, error)
	List(ctx context.Context, prefix string, fn func(Info) error) error
	Delete(ctx context.Context, key string) error
	// Close releases connections and other resources.
	Close() error
}
