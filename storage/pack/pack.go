// Package pack builds and parses pack files: many sealed blobs written one
// after another, followed by a sealed header that lists them and the
// header's length. Because every pack carries its own header, the
// repository index can always be rebuilt from the packs alone.
//
//	pack   = blob* sealed_header header_length
//	header = entry*            (before sealing)
//	entry  = type(1) flags(1) length(4) raw_length(4) id(32)
//	header_length = uint32 little-endian length of sealed_header
package pack

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/backupbot/backupbot/storage/crypto"
)

// BlobType says what a blob holds.
type BlobType uint8

// Blob types.
const (
	DataBlob BlobType = 0 // a chunk of file content
	TreeBlob BlobType = 1 // a directory listing
)

func (t BlobType) String() string {
	switch t {
	case DataBlob:
		return "data"
	case TreeBlob:
		return "tree"
	}
	return fmt.Sprintf("blobtype(%d)", uint8(t))
}

// FlagCompressed marks a blob whose plaintext is zstd-compressed.
const FlagCompressed = 1

// entrySize is the encoded size of one header entry.
const entrySize = 1 + 1 + 4 + 4 + 32

// MaxHeaderSize bounds the header a reader will accept (about 400k blobs).
const MaxHeaderSize = 16 << 20

// Blob is one entry of a pack: where its sealed bytes are and what they hold.
type Blob struct {
	Type BlobType
	ID   crypto.ID
	// Offset and Length locate the sealed bytes in the pack.
	Offset uint32
	Length uint32
	// RawLength is the plaintext size before compression.
	RawLength  uint32
	Compressed bool
}

// Writer collects sealed blobs into one pack in memory.
type Writer struct {
	buf   []byte
	blobs []Blob
}

// NewWriter returns an empty pack writer that appends to buf[:0], so that
// buffers can be reused from pack to pack.
func NewWriter(buf []byte) *Writer {
	return &Writer{buf: buf[:0]}
}

// Append adds one blob: seal appends the sealed bytes to the slice it is
// given and returns the result, so the blob is sealed in place.
func (w *Writer) Append(t BlobType, id crypto.ID, rawLength int, compressed bool, seal func(dst []byte) []byte) {
	off := len(w.buf)
	w.buf = seal(w.buf)
	w.blobs = append(w.blobs, Blob{
		Type: t, ID: id, Offset: uint32(off), Length: uint32(len(w.buf) - off),
		RawLength: uint32(rawLength), Compressed: compressed,
	})
}

// Add appends an already sealed blob.
func (w *Writer) Add(t BlobType, id crypto.ID, sealed []byte, rawLength int, compressed bool) {
	w.Append(t, id, rawLength, compressed, func(dst []byte) []byte { return append(dst, sealed...) })
}

// Buffer returns the writer's buffer, emptied, for reuse by another writer.
func (w *Writer) Buffer() []byte { return w.buf[:0] }

// Size is the number of bytes written so far (without the header).
func (w *Writer) Size() int { return len(w.buf) }

// Count is the number of blobs added.
func (w *Writer) Count() int { return len(w.blobs) }

// HeaderSize is the size of the header Finish writes (before sealing)
// for the blobs added so far: a pack of many tiny blobs has a large one.
func (w *Writer) HeaderSize() int { return len(w.blobs) * entrySize }

// EntrySize is what one blob adds to a pack's header.
const EntrySize = entrySize

// Finish appends the sealed header and its length, and returns the whole
// pack, its ID (the SHA-256 of its bytes, which is also its name) and its
// blobs. The writer must not be used afterwards; data aliases the buffer
// given to NewWriter when it was large enough.
func (w *Writer) Finish(s *crypto.Sealer) (data []byte, id crypto.ID, blobs []Blob) {
	hdr := make([]byte, 0, len(w.blobs)*entrySize)
	for _, b := range w.blobs {
		hdr = appendEntry(hdr, b)
	}
	// One growth at most (a pack of many tiny blobs has a header larger
	// than the slack its buffer was given), not one for the sealed header
	// and another for its length.
	w.buf = slices.Grow(w.buf, len(hdr)+s.Overhead()+4)
	before := len(w.buf)
	w.buf = s.Seal(w.buf, hdr)
	w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(len(w.buf)-before))
	return w.buf, sha256.Sum256(w.buf), w.blobs
}

func appendEntry(dst []byte, b Blob) []byte {
	var flags byte
	if b.Compressed {
		flags |= FlagCompressed
	}
	dst = append(dst, byte(b.Type), flags)
	dst = binary.LittleEndian.AppendUint32(dst, b.Length)
	dst = binary.LittleEndian.AppendUint32(dst, b.RawLength)
	return append(dst, b.ID[:]...)
}

// ErrDamaged marks a pack whose header cannot be read.
var ErrDamaged = errors.New("pack damaged")

// HeaderLength returns the sealed header's length from a pack's last four
// bytes, checked against the pack's size.
func HeaderLength(tail []byte, packSize int64) (int, error) {
	if len(tail) < 4 || packSize < 4 {
		return 0, fmt.Errorf("pack of %d bytes is too short: %w", packSize, ErrDamaged)
	}
	n := int64(binary.LittleEndian.Uint32(tail[len(tail)-4:]))
	if n > MaxHeaderSize || n+4 > packSize {
		return 0, fmt.Errorf("header length %d does not fit a pack of %d bytes: %w", n, packSize, ErrDamaged)
	}
	return int(n), nil
}

// ParseHeader opens a sealed header and returns its blobs with their
// offsets. headerOffset is where the sealed header starts in the pack; the
// blobs must exactly fill the pack up to it.
func ParseHeader(s *crypto.Sealer, sealed []byte, headerOffset int64) ([]Blob, error) {
	hdr, err := s.Open(nil, sealed)
	if err != nil {
		return nil, fmt.Errorf("pack header: %w: %w", err, ErrDamaged)
	}
	if len(hdr)%entrySize != 0 {
		return nil, fmt.Errorf("pack header of %d bytes is not a whole number of entries: %w", len(hdr), ErrDamaged)
	}
	blobs := make([]Blob, 0, len(hdr)/entrySize)
	var off int64
	for p := hdr; len(p) > 0; p = p[entrySize:] {
		b := Blob{
			Type:       BlobType(p[0]),
			Compressed: p[1]&FlagCompressed != 0,
			Offset:     uint32(off),
			Length:     binary.LittleEndian.Uint32(p[2:]),
			RawLength:  binary.LittleEndian.Uint32(p[6:]),
		}
		copy(b.ID[:], p[10:42])
		if b.Type != DataBlob && b.Type != TreeBlob {
			return nil, fmt.Errorf("pack header names unknown blob type %d: %w", p[0], ErrDamaged)
		}
		off += int64(b.Length)
		blobs = append(blobs, b)
	}
	if off != headerOffset {
		return nil, fmt.Errorf("pack header lists %d bytes of blobs, the pack holds %d: %w", off, headerOffset, ErrDamaged)
	}
	return blobs, nil
}
