// Package chunker splits a stream into content-defined chunks with FastCDC
// (gear hash, normalised chunking). The gear table is derived from a secret
// per-repository seed, so chunk boundaries, and thus chunk sizes, do not
// reveal the content to someone who sees only the repository.
package chunker

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
)

// Chunk size limits: the average is about 1 MiB, like restic's.
const (
	MinSize = 512 << 10
	AvgSize = 1 << 20
	MaxSize = 8 << 20
)

// Masks for normalised chunking (level 2): harder to cut before AvgSize,
// easier after it. The gear hash pushes bytes in from the right, so the top
// bits depend on the last 64 bytes only.
const (
	maskHard uint64 = 0xFFFFFC0000000000 // top 22 bits
	maskEasy uint64 = 0xFFFFC00000000000 // top 18 bits
)

// Table is a keyed gear table.
type Table [256]uint64

// NewTable derives the gear table from a secret seed.
func NewTable(seed []byte) *Table {
	var t Table
	var block [sha256.Size]byte
	for i := 0; i < 256; i += 4 {
		h := sha256.New()
		h.Write([]byte("backupbot gear table"))
		h.Write(seed)
		var ctr [4]byte
		binary.LittleEndian.PutUint32(ctr[:], uint32(i))
		h.Write(ctr[:])
		h.Sum(block[:0])
		for j := range 4 {
			t[i+j] = binary.LittleEndian.Uint64(block[j*8:])
		}
	}
	return &t
}

// Cut returns the length of the first chunk of data. When data holds fewer
// than MaxSize bytes and no boundary is found, it returns len(data) only if
// final is true (the stream ended), else 0 (read more first).
func (t *Table) Cut(data []byte, final bool) int {
	n := len(data)
	if n <= MinSize {
		if final {
			return n
		}
		return 0
	}
	limit := min(n, MaxSize)
	normal := min(limit, AvgSize)
	var fp uint64
	i := MinSize
	for ; i < normal; i++ {
		fp = fp<<1 + t[data[i]]
		if fp&maskHard == 0 {
			return i + 1
		}
	}
	for ; i < limit; i++ {
		fp = fp<<1 + t[data[i]]
		if fp&maskEasy == 0 {
			return i + 1
		}
	}
	if limit == MaxSize || final {
		return limit
	}
	return 0
}

// Chunker reads a stream and returns its chunks one by one.
type Chunker struct {
	t      *Table
	r      io.Reader
	buf    []byte
	start  int // first byte of the next chunk
	end    int // end of valid data
	eof    bool
	offset int64
}

// New returns a Chunker reading r, using buf (grown to MaxSize as needed)
// as its window. Reuse buffers across files with Reset.
func New(t *Table, r io.Reader, buf []byte) *Chunker {
	c := &Chunker{t: t}
	c.Reset(r, buf)
	return c
}

// Reset makes c read a new stream.
func (c *Chunker) Reset(r io.Reader, buf []byte) {
	c.r, c.buf, c.start, c.end, c.eof, c.offset = r, buf[:cap(buf)], 0, 0, false, 0
}

// Buffer returns the window, to be reused for another stream.
func (c *Chunker) Buffer() []byte { return c.buf }

// Next returns the next chunk and its offset in the stream. The slice is
// valid until the following call. At the end of the stream it returns
// io.EOF.
func (c *Chunker) Next() (chunk []byte, offset int64, err error) {
	for {
		if c.end > c.start {
			if n := c.t.Cut(c.buf[c.start:c.end], c.eof); n > 0 {
				chunk = c.buf[c.start : c.start+n]
				offset = c.offset
				c.start += n
				c.offset += int64(n)
				return chunk, offset, nil
			}
		}
		if c.eof {
			return nil, c.offset, io.EOF
		}
		if err := c.fill(); err != nil {
			return nil, c.offset, err
		}
	}
}

// fill moves unread data to the front and reads more.
func (c *Chunker) fill() error {
	if c.start > 0 {
		c.end = copy(c.buf, c.buf[c.start:c.end])
		c.start = 0
	}
	if c.end == len(c.buf) {
		grow := max(2*len(c.buf), 64<<10)
		grow = min(grow, MaxSize)
		if grow <= len(c.buf) {
			return errors.New("chunker: window full without a boundary")
		}
		nb := make([]byte, grow)
		copy(nb, c.buf[:c.end])
		c.buf = nb
	}
	for c.end < len(c.buf) {
		n, err := c.r.Read(c.buf[c.end:])
		c.end += n
		if err == io.EOF {
			c.eof = true
			return nil
		}
		if err != nil {
			return err
		}
		if n == 0 {
			continue
		}
		// Enough to decide a cut: stop reading for now.
		if c.end-c.start >= MaxSize {
			return nil
		}
	}
	return nil
}
