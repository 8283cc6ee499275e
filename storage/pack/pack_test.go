package pack_test

import (
	"errors"
	"testing"

	"github.com/backupbot/backupbot/storage/crypto"
	"github.com/backupbot/backupbot/storage/pack"
)

func TestHeaderRoundTripAndDamage(t *testing.T) {
	k, _ := crypto.NewRandomKey()
	s, _ := crypto.NewSealer(k.Encrypt)
	for _, sealer := range []*crypto.Sealer{s, nil} {
		w := pack.NewWriter(nil)
		w.Add(pack.DataBlob, crypto.ID{1}, sealer.Seal(nil, []byte("first blob")), 10, false)
		w.Add(pack.TreeBlob, crypto.ID{2}, sealer.Seal(nil, []byte("second")), 600, true)
		data, id, blobs := w.Finish(sealer)
		if id != crypto.SHA256(data) {
			t.Fatal("pack ID is not the SHA-256 of its bytes")
		}
		n, err := pack.HeaderLength(data, int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		off := len(data) - 4 - n
		got, err := pack.ParseHeader(sealer, data[off:len(data)-4], int64(off))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0] != blobs[0] || got[1] != blobs[1] || !got[1].Compressed || got[1].RawLength != 600 {
			t.Fatalf("parsed %+v; want %+v", got, blobs)
		}
		if sealer != nil {
			data[off+3] ^= 1
			if _, err := pack.ParseHeader(sealer, data[off:len(data)-4], int64(off)); !errors.Is(err, pack.ErrDamaged) {
				t.Fatalf("a damaged header parsed: %v", err)
			}
		}
		if _, err := pack.HeaderLength([]byte{255, 255, 255, 0}, 100); !errors.Is(err, pack.ErrDamaged) {
			t.Fatal("a header length beyond the pack was accepted")
		}
	}
}
