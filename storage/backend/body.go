package backend

import (
	"fmt"
	"io"
	"io/fs"
)

// BodySize rewinds body and returns its length. When want is not negative
// and differs from the length, the error wraps ErrPermanent: the caller
// handed over the wrong body, and a retry would upload it again.
func BodySize(body io.ReadSeeker, want int64) (int64, error) {
	n, err := body.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, fmt.Errorf("measuring the body: %w", err)
	}
	if _, err := body.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("rewinding the body: %w", err)
	}
	if want >= 0 && n != want {
		return 0, fmt.Errorf("body has %d bytes, expected %d: %w", n, want, ErrPermanent)
	}
	return n, nil
}

// RangeFile is an open object that a backend can read at any offset: an
// *os.File, or a file on an SMB share.
type RangeFile interface {
	io.ReaderAt
	io.Closer
}

// OpenRange returns a reader of length bytes of f from offset (length < 0:
// to the end), as Get's contract says: a range past the object's size
// bytes is an error, and f is closed then. Closing the reader closes f.
func OpenRange(f RangeFile, size, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 || offset > size || (length >= 0 && offset+length > size) {
		_ = f.Close()
		return nil, fmt.Errorf("range %d+%d is outside the object's %d bytes", offset, length, size)
	}
	if length < 0 {
		length = size - offset
	}
	return rangeReader{SectionReader: io.NewSectionReader(f, offset, length), Closer: f}, nil
}

// StatFile is an open object file that can say its size: an *os.File, or
// a file on an SMB share.
type StatFile interface {
	RangeFile
	Stat() (fs.FileInfo, error)
}

// ReadRange is OpenRange for an object file of a backend that keeps
// objects as files: f's size is its own. A directory is not an object:
// the error is then fs.ErrNotExist. f is closed when ReadRange fails.
func ReadRange(f StatFile, offset, length int64) (io.ReadCloser, error) {
	st, err := f.Stat()
	if err == nil && st.IsDir() {
		err = fs.ErrNotExist
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return OpenRange(f, st.Size(), offset, length)
}

type rangeReader struct {
	*io.SectionReader
	io.Closer
}
