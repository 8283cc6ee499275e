package repo

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/backupbot/backupbot/storage/pack"
)

// ErrBlobNotFound means the index does not know a blob.
var ErrBlobNotFound = errors.New("blob not in the index")

// LoadBlob reads a blob's plaintext, appending it to dst[:0]. The plaintext
// is checked against the blob's ID.
func (r *Repository) LoadBlob(ctx context.Context, id ID, dst []byte) ([]byte, error) {
	loc, ok := r.Index.Lookup(id)
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", id.Short(), ErrBlobNotFound)
	}
	rc, err := r.be.Get(ctx, PackKey(loc.Pack), int64(loc.Offset), int64(loc.Length))
	if err != nil {
		return nil, fmt.Errorf("reading blob %s from pack %s: %w", id.Short(), loc.Pack.Short(), err)
	}
	defer rc.Close()
	sealed := make([]byte, loc.Length)
	if _, err := io.ReadFull(rc, sealed); err != nil {
		return nil, fmt.Errorf("reading blob %s from pack %s: %w", id.Short(), loc.Pack.Short(), err)
	}
	return r.OpenBlob(loc.Blob, sealed, dst)
}

// OpenBlob decrypts, decompresses and checks one sealed blob, appending the
// plaintext to dst[:0]. Errors wrap ErrDamaged.
func (r *Repository) OpenBlob(b pack.Blob, sealed, dst []byte) ([]byte, error) {
	plain, err := r.sealer.OpenInPlace(sealed)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w: %w", b.ID.Short(), err, ErrDamaged)
	}
	out := dst[:0]
	if b.Compressed {
		if cap(out) < int(b.RawLength) {
			out = make([]byte, 0, b.RawLength)
		}
		out, err = r.dec.DecodeAll(plain, out)
		if err != nil {
			return nil, fmt.Errorf("blob %s: decompressing: %w: %w", b.ID.Short(), err, ErrDamaged)
		}
	} else {
		out = append(out, plain...)
	}
	if len(out) != int(b.RawLength) {
		return nil, fmt.Errorf("blob %s: %d bytes, the index says %d: %w", b.ID.Short(), len(out), b.RawLength, ErrDamaged)
	}
	h := r.hashers.get()
	sum := h.Sum(out)
	r.hashers.put(h)
	if sum != b.ID {
		return nil, fmt.Errorf("blob %s: content does not match its ID: %w", b.ID.Short(), ErrDamaged)
	}
	return out, nil
}

// ReadPackHeader reads and parses the header at the end of a pack.
func (r *Repository) ReadPackHeader(ctx context.Context, id ID, size int64) ([]pack.Blob, error) {
	tailLen := min(size, 64<<10)
	tail, err := r.readRange(ctx, PackKey(id), size-tailLen, tailLen)
	if err != nil {
		return nil, err
	}
	n, err := pack.HeaderLength(tail, size)
	if err != nil {
		return nil, fmt.Errorf("pack %s: %w", id.Short(), err)
	}
	var hdr []byte
	if int64(n)+4 <= tailLen {
		hdr = tail[tailLen-4-int64(n) : tailLen-4]
	} else if hdr, err = r.readRange(ctx, PackKey(id), size-4-int64(n), int64(n)); err != nil {
		return nil, err
	}
	return r.parsePackHeader(id, hdr, size-4-int64(n))
}

// PackBlobs returns the blobs a whole pack's own header lists.
func (r *Repository) PackBlobs(id ID, data []byte) ([]pack.Blob, error) {
	size := int64(len(data))
	n, err := pack.HeaderLength(data, size)
	if err != nil {
		return nil, fmt.Errorf("pack %s: %w", id.Short(), err)
	}
	return r.parsePackHeader(id, data[size-4-int64(n):size-4], size-4-int64(n))
}

func (r *Repository) parsePackHeader(id ID, hdr []byte, offset int64) ([]pack.Blob, error) {
	blobs, err := pack.ParseHeader(r.sealer, hdr, offset)
	if err != nil {
		return nil, fmt.Errorf("pack %s: %w", id.Short(), err)
	}
	return blobs, nil
}

func (r *Repository) readRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	rc, err := r.be.Get(ctx, key, off, n)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	buf := make([]byte, n)
	if _, err := io.ReadFull(rc, buf); err != nil {
		return nil, fmt.Errorf("reading %s: %w", key, err)
	}
	return buf, nil
}
