package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Bucket is where a remote backend (S3, Azure Blob) keeps its objects: a
// bucket or container, under an optional prefix. It maps keys to object
// names and back, and names the store in locations and errors, the same
// way for every such backend.
type Bucket struct {
	kind   string // "s3", "azure"
	name   string // the bucket or container
	prefix string // "" or "something/"
}

// NewBucket returns the Bucket of a kind of store ("s3", "azure"), named
// name, whose keys go under prefix (slashes around it do not matter).
func NewBucket(kind, name, prefix string) Bucket {
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return Bucket{kind: kind, name: name, prefix: prefix}
}

// Prefix is what every object name starts with: "" or "something/".
func (b Bucket) Prefix() string { return b.prefix }

// Location implements Backend.Location: "s3:bucket" or "s3:bucket/prefix".
func (b Bucket) Location() string {
	if b.prefix == "" {
		return b.kind + ":" + b.name
	}
	return b.kind + ":" + b.name + "/" + strings.TrimSuffix(b.prefix, "/")
}

// Where names the store in errors: "s3 storage s3:bucket/prefix".
func (b Bucket) Where() string { return b.kind + " storage " + b.Location() }

// Op names an operation on key (none when key is "") in an error:
// "s3 storage s3:bucket/prefix: get data/ab".
func (b Bucket) Op(op, key string) string {
	if key == "" {
		return b.Where() + ": " + op
	}
	return b.Where() + ": " + op + " " + key
}

// Object returns the object name of key, refusing an empty or absolute key.
func (b Bucket) Object(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, "/") {
		return "", fmt.Errorf("%s: invalid key %q: %w", b.Where(), key, ErrPermanent)
	}
	return b.prefix + key, nil
}

// Key returns the key of an object a listing of the bucket returned.
func (b Bucket) Key(object string) string { return strings.TrimPrefix(object, b.prefix) }

// Upload checks what a Put or Create (op) of key is given: it returns the
// object name and the body's length, rewound, as BodySize does.
func (b Bucket) Upload(op, key string, body io.ReadSeeker, size int64) (string, int64, error) {
	object, err := b.Object(key)
	if err != nil {
		return "", 0, err
	}
	n, err := BodySize(body, size)
	if err != nil {
		return "", 0, fmt.Errorf("%s: %w", b.Op(op, key), err)
	}
	return object, n, nil
}

// ErrRangeNotSatisfiable is what a GetRange fetch returns when the server
// refuses the range it asked for (HTTP 416).
var ErrRangeNotSatisfiable = errors.New("range not satisfiable")

// GetRange keeps Get's contract for a store read with HTTP range requests
// (S3, Azure Blob), whose servers cannot be asked for zero bytes, refuse a
// range that starts at the end of an object and clip one that runs past
// it. fetch asks the server for length bytes of key from offset (length <
// 0: to the end; GetRange never asks for 0) and returns the body with the
// length the server announced (-1 when it announced none); it returns
// ErrRangeNotSatisfiable when the server refuses the range, and other
// errors wrapped as the caller wants them. stat is the store's Stat; where
// names the store in errors.
func GetRange(ctx context.Context, where, key string, offset, length int64,
	stat func(context.Context, string) (Info, error), fetch func() (io.ReadCloser, int64, error),
) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, fmt.Errorf("%s: get %s: negative offset %d: %w", where, key, offset, ErrPermanent)
	}
	if length == 0 {
		// HTTP cannot ask for zero bytes: check the range against the size.
		info, err := stat(ctx, key)
		if err != nil {
			return nil, err
		}
		if offset > info.Size {
			return nil, RangeError(where, key, offset, length, info.Size)
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	body, n, err := fetch()
	if errors.Is(err, ErrRangeNotSatisfiable) {
		// A read from exactly the end ("bytes=N-" of N bytes) is valid and empty.
		info, serr := stat(ctx, key)
		if serr != nil {
			return nil, serr
		}
		if length < 0 && offset == info.Size {
			return io.NopCloser(strings.NewReader("")), nil
		}
		return nil, RangeError(where, key, offset, length, info.Size)
	}
	if err != nil {
		return nil, err
	}
	if length > 0 && n >= 0 && n != length {
		// The server clips a range that runs past the end.
		_ = body.Close()
		return nil, RangeError(where, key, offset, length, offset+n)
	}
	return NamedReader(where, key, body), nil
}

// PositiveOr returns v, or def when v is zero or negative: an option left
// unset takes its default.
func PositiveOr[T int | int64](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
