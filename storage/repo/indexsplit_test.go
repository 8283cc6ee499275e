package repo

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/backupbot/backupbot/storage/pack"
)

// packsOfBlobs makes n packs of per blobs each, every blob ID distinct.
func packsOfBlobs(n, per int) []PackEntry {
	out := make([]PackEntry, n)
	k := uint64(0)
	for i := range out {
		out[i].ID[0], out[i].ID[1] = byte(i), byte(i>>8)
		out[i].ID[31] = 0xAA
		out[i].Size = 12 << 20
		out[i].Blobs = make([]pack.Blob, per)
		for j := range out[i].Blobs {
			k++
			var id ID
			binary.LittleEndian.PutUint64(id[:], k)
			out[i].Blobs[j] = pack.Blob{Type: pack.DataBlob, ID: id, Offset: uint32(j * 60), Length: 60, RawLength: 60}
		}
	}
	return out
}

// The writer's index files never exceed what the reader decompresses: a
// backup that stores more blobs than one file can list (about 360,000)
// writes several, and every entry reads back. Exactly at the limit it is
// one file; one pack more makes two.
func TestIndexFilesSplitAtTheReadersLimit(t *testing.T) {
	ctx := context.Background()
	const per = 4000
	// How many packs of per blobs fit in one file.
	fit := (MaxIndexPayload - len(indexMagic)) / indexEntrySize(PackEntry{Blobs: make([]pack.Blob, per)})
	for _, tc := range []struct {
		packs, files int
	}{{fit, 1}, {fit + 1, 2}, {2*fit + 1, 3}} {
		r := newRepo(t, "pw")
		packs := packsOfBlobs(tc.packs, per)
		ids, err := r.SaveIndex(ctx, packs)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != tc.files {
			t.Errorf("%d packs of %d blobs: %d index files, want %d", tc.packs, per, len(ids), tc.files)
		}
		for _, id := range ids {
			if _, err := r.LoadIndexFile(ctx, id); err != nil {
				t.Fatalf("index file %s does not read back: %v", id.Short(), err)
			}
		}
		r.Index.Reset()
		if err := r.LoadIndex(ctx); err != nil {
			t.Fatal(err)
		}
		if skipped := r.Index.Skipped(); len(skipped) != 0 {
			t.Fatalf("index files skipped as unreadable: %v", skipped)
		}
		for _, p := range []PackEntry{packs[0], packs[len(packs)-1]} {
			for _, b := range []pack.Blob{p.Blobs[0], p.Blobs[per-1]} {
				if l, ok := r.Index.Lookup(b.ID); !ok || l.Pack != p.ID {
					t.Fatalf("blob %s of pack %s is not indexed after the reload", b.ID.Short(), p.ID.Short())
				}
			}
		}
	}
}
