package chunker_test

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/backupbot/backupbot/storage/chunker"
)

func randomData(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func chunks(t *testing.T, tab *chunker.Table, data []byte) [][]byte {
	t.Helper()
	c := chunker.New(tab, bytes.NewReader(data), make([]byte, 64<<10))
	var out [][]byte
	var off int64
	for {
		ch, o, err := c.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if o != off {
			t.Fatalf("chunk offset %d, want %d", o, off)
		}
		off += int64(len(ch))
		out = append(out, bytes.Clone(ch))
	}
	return out
}

func TestChunksRebuildTheStreamWithinLimits(t *testing.T) {
	tab := chunker.NewTable([]byte("seed"))
	for _, n := range []int{0, 1, 1000, chunker.MinSize, chunker.MinSize + 1, 12 << 20} {
		data := randomData(uint64(n), n)
		cs := chunks(t, tab, data)
		if got := bytes.Join(cs, nil); !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: chunks do not rebuild the stream", n)
		}
		for i, c := range cs {
			if len(c) > chunker.MaxSize || (len(c) < chunker.MinSize && i != len(cs)-1) {
				t.Fatalf("%d bytes: chunk %d has %d bytes, outside [%d, %d]", n, i, len(c), chunker.MinSize, chunker.MaxSize)
			}
		}
	}
}

func TestAnEditInTheMiddleChangesAboutOneChunk(t *testing.T) {
	tab := chunker.NewTable([]byte("seed"))
	data := randomData(7, 24<<20)
	before := map[string]bool{}
	for _, c := range chunks(t, tab, data) {
		before[string(c)] = true
	}
	edited := bytes.Clone(data)
	copy(edited[10<<20:], []byte("a few changed bytes"))
	inserted := append(bytes.Clone(edited[:18<<20]), append([]byte("inserted"), edited[18<<20:]...)...)
	var newChunks int
	after := chunks(t, tab, inserted)
	for _, c := range after {
		if !before[string(c)] {
			newChunks++
		}
	}
	if newChunks > 4 {
		t.Fatalf("an overwrite and an insert changed %d of %d chunks; want at most 4", newChunks, len(after))
	}
}

func TestTheSeedMovesBoundaries(t *testing.T) {
	data := randomData(9, 12<<20)
	a := chunks(t, chunker.NewTable([]byte("one")), data)
	b := chunks(t, chunker.NewTable([]byte("two")), data)
	if len(a) > 1 && len(a) == len(b) && len(a[0]) == len(b[0]) {
		t.Fatal("two different seeds cut at the same place; boundaries must depend on the secret seed")
	}
}

func BenchmarkCut(b *testing.B) {
	tab := chunker.NewTable([]byte("seed"))
	data := randomData(1, 64<<20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		for rest := data; len(rest) > 0; {
			n := tab.Cut(rest, true)
			rest = rest[n:]
		}
	}
}
