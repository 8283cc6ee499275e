package backend

import (
	"fmt"
	"io"
)

// RangeError is the error of a Get whose range [offset, offset+length)
// lies outside an object of size bytes; where names the store
// ("s3 storage s3:bucket/prefix"). It is permanent: retrying cannot help.
func RangeError(where, key string, offset, length, size int64) error {
	return fmt.Errorf("%s: get %s: range %d+%d is outside the object's %d bytes: %w",
		where, key, offset, length, size, ErrPermanent)
}

// NamedReader wraps the body of a Get so that a read that fails midway
// names the store and the object; io.EOF passes through unchanged.
func NamedReader(where, key string, rc io.ReadCloser) io.ReadCloser {
	return &namedReader{where: where, key: key, rc: rc}
}

type namedReader struct {
	where, key string
	rc         io.ReadCloser
}

func (r *namedReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%s: reading %s: %w", r.where, r.key, err)
	}
	return n, err
}

func (r *namedReader) Close() error { return r.rc.Close() }
