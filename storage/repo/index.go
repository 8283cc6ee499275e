package repo

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/pack"
)

// indexMagic starts every index file's payload.
var indexMagic = []byte("BBIX\x01")

// Location says where one blob is stored.
type Location struct {
	Pack ID
	pack.Blob
}

// PackEntry is one pack as an index file lists it.
type PackEntry struct {
	ID    ID
	Size  int64
	Blobs []pack.Blob
}

type indexEntry struct {
	pack                      uint32
	offset, length, rawLength uint32
	typ                       pack.BlobType
	compressed                bool
}

// Index maps blob IDs to their places in packs. It is safe for concurrent
// use.
type Index struct {
	mu        sync.RWMutex
	packs     []ID
	packSizes []int64
	packNum   map[ID]uint32
	blobs     map[ID]indexEntry
	files     map[ID]bool
	// bad holds the packs in which a blob is known damaged: such copies
	// are never indexed (damage records, verify).
	bad map[ID][]ID
	// skipped holds the index files that could not be read, and why.
	skipped map[ID]string
	// headerTried holds the packs RecoverIndex has read the header of.
	headerTried map[ID]bool
	// hidden are prune candidates (prune.go): Has does not see their
	// blobs, so new backups store those blobs again rather than refer to
	// a pack that may be deleted.
	hidden map[ID]bool
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{packNum: map[ID]uint32{}, blobs: map[ID]indexEntry{}, files: map[ID]bool{},
		bad: map[ID][]ID{}, skipped: map[ID]string{}, headerTried: map[ID]bool{}}
}

// Reset forgets everything, so that the next LoadIndex reads the index
// files afresh (after a cleanup replaced them).
func (x *Index) Reset() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.packs, x.packSizes = nil, nil
	x.packNum, x.blobs, x.files = map[ID]uint32{}, map[ID]indexEntry{}, map[ID]bool{}
	x.bad, x.skipped, x.headerTried = map[ID][]ID{}, map[ID]string{}, map[ID]bool{}
}

// Exclude records that the copy of blob id in pack packID is damaged: it
// is dropped from the index if present and never added again, so nothing
// reads it or deduplicates onto it. Other copies stay usable.
func (x *Index) Exclude(id, packID ID) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !slices.Contains(x.bad[id], packID) {
		x.bad[id] = append(x.bad[id], packID)
	}
	if e, ok := x.blobs[id]; ok && x.packs[e.pack] == packID {
		delete(x.blobs, id)
	}
}

// Skipped returns the index files LoadIndex could not read, with why.
func (x *Index) Skipped() map[ID]string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return maps.Clone(x.skipped)
}

// Has reports whether the blob is stored in a pack a backup may refer to
// (not a prune candidate).
func (x *Index) Has(id ID) bool {
	x.mu.RLock()
	e, ok := x.blobs[id]
	ok = ok && !x.hidden[x.packs[e.pack]]
	x.mu.RUnlock()
	return ok
}

// Lookup returns where a blob is stored.
func (x *Index) Lookup(id ID) (Location, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.blobs[id]
	if !ok {
		return Location{}, false
	}
	return Location{Pack: x.packs[e.pack], Blob: pack.Blob{
		Type: e.typ, ID: id, Offset: e.offset, Length: e.length, RawLength: e.rawLength, Compressed: e.compressed,
	}}, true
}

// Add records a pack and its blobs.
func (x *Index) Add(p PackEntry) {
	x.mu.Lock()
	defer x.mu.Unlock()
	n, ok := x.packNum[p.ID]
	if !ok {
		n = uint32(len(x.packs))
		x.packs = append(x.packs, p.ID)
		x.packSizes = append(x.packSizes, p.Size)
		x.packNum[p.ID] = n
	}
	for _, b := range p.Blobs {
		// A blob stored twice is read from the first place seen, unless
		// that is a prune candidate and this is not.
		if e, dup := x.blobs[b.ID]; dup && (!x.hidden[x.packs[e.pack]] || x.hidden[p.ID]) {
			continue
		}
		if slices.Contains(x.bad[b.ID], p.ID) {
			continue
		}
		x.blobs[b.ID] = indexEntry{pack: n, offset: b.Offset, length: b.Length, rawLength: b.RawLength, typ: b.Type, compressed: b.Compressed}
	}
}

// Packs returns every indexed pack with its size.
func (x *Index) Packs() map[ID]int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make(map[ID]int64, len(x.packs))
	for i, id := range x.packs {
		out[id] = x.packSizes[i]
	}
	return out
}

// Count returns the number of blobs.
func (x *Index) Count() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.blobs)
}

// Each calls fn for every blob.
func (x *Index) Each(fn func(Location)) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for id, e := range x.blobs {
		fn(Location{Pack: x.packs[e.pack], Blob: pack.Blob{
			Type: e.typ, ID: id, Offset: e.offset, Length: e.length, RawLength: e.rawLength, Compressed: e.compressed,
		}})
	}
}

// encodeIndex serialises packs into an index file payload.
func encodeIndex(packs []PackEntry) []byte {
	n := len(indexMagic)
	for _, p := range packs {
		n += 32 + 8 + 4 + len(p.Blobs)*(2+12+32)
	}
	buf := make([]byte, 0, n)
	buf = append(buf, indexMagic...)
	for _, p := range packs {
		buf = append(buf, p.ID[:]...)
		buf = binary.LittleEndian.AppendUint64(buf, uint64(p.Size))
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(p.Blobs)))
		for _, b := range p.Blobs {
			var flags byte
			if b.Compressed {
				flags = pack.FlagCompressed
			}
			buf = append(buf, byte(b.Type), flags)
			buf = binary.LittleEndian.AppendUint32(buf, b.Offset)
			buf = binary.LittleEndian.AppendUint32(buf, b.Length)
			buf = binary.LittleEndian.AppendUint32(buf, b.RawLength)
			buf = append(buf, b.ID[:]...)
		}
	}
	return buf
}

// decodeIndex parses an index file payload.
func decodeIndex(buf []byte) ([]PackEntry, error) {
	var out []PackEntry
	err := eachIndexEntry(buf, func(p PackEntry) {
		p.Blobs = slices.Clone(p.Blobs)
		out = append(out, p)
	})
	return out, err
}

// eachIndexEntry parses an index file payload and calls fn for each pack
// in it; p.Blobs is reused for the next pack (fn copies what it keeps),
// so a loader holds one pack's entries at a time, not the whole file's.
func eachIndexEntry(buf []byte, fn func(p PackEntry)) error {
	if !bytes.HasPrefix(buf, indexMagic) {
		return fmt.Errorf("not an index file: %w", ErrDamaged)
	}
	buf = buf[len(indexMagic):]
	var blobs []pack.Blob
	for len(buf) > 0 {
		if len(buf) < 44 {
			return fmt.Errorf("index file truncated: %w", ErrDamaged)
		}
		var p PackEntry
		copy(p.ID[:], buf)
		p.Size = int64(binary.LittleEndian.Uint64(buf[32:]))
		count := int(binary.LittleEndian.Uint32(buf[40:]))
		buf = buf[44:]
		if len(buf) < count*46 {
			return fmt.Errorf("index file truncated: %w", ErrDamaged)
		}
		blobs = slices.Grow(blobs[:0], count)[:count]
		for i := range blobs {
			b := &blobs[i]
			b.Type = pack.BlobType(buf[0])
			b.Compressed = buf[1]&pack.FlagCompressed != 0
			b.Offset = binary.LittleEndian.Uint32(buf[2:])
			b.Length = binary.LittleEndian.Uint32(buf[6:])
			b.RawLength = binary.LittleEndian.Uint32(buf[10:])
			copy(b.ID[:], buf[14:46])
			buf = buf[46:]
		}
		p.Blobs = blobs
		fn(p)
	}
	return nil
}

// MaxIndexPayload is the largest index file payload a writer produces:
// a reader decompresses at most MaxBlobSize (one limit, known to both
// sides). Packs that encode to more are written as several index files.
const MaxIndexPayload = MaxBlobSize - 64<<10

// indexEntrySize is what one pack adds to an index file's payload.
func indexEntrySize(p PackEntry) int { return 32 + 8 + 4 + len(p.Blobs)*(2+12+32) }

// splitIndex groups packs, in order, so that each group's encoding fits
// in MaxIndexPayload. A single pack always fits: a 12 MiB pack holds far
// fewer blobs than that would take.
func splitIndex(packs []PackEntry) [][]PackEntry {
	var out [][]PackEntry
	start, size := 0, len(indexMagic)
	for i, p := range packs {
		n := indexEntrySize(p)
		if i > start && size+n > MaxIndexPayload {
			out = append(out, packs[start:i])
			start, size = i, len(indexMagic)
		}
		size += n
	}
	if start < len(packs) || len(out) == 0 {
		out = append(out, packs[start:])
	}
	return out
}

// SaveIndex writes index files listing packs (one, unless they encode to
// more than MaxIndexPayload) and returns their IDs.
func (r *Repository) SaveIndex(ctx context.Context, packs []PackEntry) ([]ID, error) {
	ids, _, err := r.saveIndex(ctx, packs)
	return ids, err
}

// saveIndex writes packs as index files of at most MaxIndexPayload each;
// it returns their IDs and stored sizes added up. On an error the files
// already written are returned too (their packs are stored).
func (r *Repository) saveIndex(ctx context.Context, packs []PackEntry) ([]ID, int64, error) {
	var ids []ID
	var total int64
	for _, group := range splitIndex(packs) {
		sealed, id := r.sealFile(fileBinary, encodeIndex(group))
		if err := r.be.Put(ctx, indexPrefix+id.String(), bytes.NewReader(sealed), int64(len(sealed))); err != nil {
			return ids, total, fmt.Errorf("writing index %s: %w", id.Short(), err)
		}
		r.Index.mu.Lock()
		r.Index.files[id] = true
		r.Index.mu.Unlock()
		ids = append(ids, id)
		total += int64(len(sealed))
	}
	return ids, total, nil
}

// IndexFiles lists the index files.
func (r *Repository) IndexFiles(ctx context.Context) ([]ID, error) {
	return r.listIDs(ctx, indexPrefix)
}

// LoadIndexFile reads one index file.
func (r *Repository) LoadIndexFile(ctx context.Context, id ID) ([]PackEntry, error) {
	payload, err := r.indexPayload(ctx, id)
	if err != nil {
		return nil, err
	}
	packs, err := decodeIndex(payload)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", id.Short(), err)
	}
	return packs, nil
}

// indexPayload reads one index file's payload.
func (r *Repository) indexPayload(ctx context.Context, id ID) ([]byte, error) {
	format, payload, err := r.loadFile(ctx, indexPrefix, id)
	if err != nil {
		return nil, err
	}
	if format != fileBinary {
		return nil, fmt.Errorf("index %s: unexpected format: %w", id.Short(), ErrDamaged)
	}
	return payload, nil
}

// addIndexFile reads one index file into the index, a pack at a time (no
// decoded copy of the whole file). A damaged file adds nothing.
func (r *Repository) addIndexFile(ctx context.Context, id ID) error {
	payload, err := r.indexPayload(ctx, id)
	if err != nil {
		return err
	}
	if err := eachIndexEntry(payload, func(PackEntry) {}); err != nil {
		return fmt.Errorf("index %s: %w", id.Short(), err)
	}
	return eachIndexEntry(payload, r.Index.Add)
}

// DeleteIndexFile removes one index file (exclusive lock only).
func (r *Repository) DeleteIndexFile(ctx context.Context, id ID) error {
	return r.be.Delete(ctx, indexPrefix+id.String())
}

// LoadIndex reads every index file not loaded yet into r.Index. When an
// index file loaded before is gone (a prune replaced it), it starts
// afresh. Damage records are applied first, so no blob verify found
// damaged is indexed, and the prune candidates are hidden from
// deduplication. An index file that is damaged or gone is skipped
// (Index.Skipped names it); RecoverIndex then indexes the packs no
// readable index file lists from their own headers. Only a storage
// failure is an error.
func (r *Repository) LoadIndex(ctx context.Context) error {
	// The prune candidates before the index files are listed (see
	// loadHidden); Reset keeps them.
	if err := r.loadHidden(ctx); err != nil {
		return err
	}
	ids, infos, err := r.listFiles(ctx, indexPrefix)
	if err != nil {
		return err
	}
	if r.Index.vanished(ids) {
		r.Index.Reset()
	}
	recs, _, err := r.DamageRecords(ctx)
	if err != nil {
		return fmt.Errorf("loading the index: %w", err)
	}
	for _, rec := range recs {
		for _, b := range rec.Blobs {
			r.Index.Exclude(b.ID, b.Pack)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, id := range ids {
		r.Index.mu.RLock()
		done := r.Index.files[id]
		_, skipped := r.Index.skipped[id]
		r.Index.mu.RUnlock()
		if done || skipped {
			continue
		}
		ck := fileKey{repo: r.cfg.ID, id: id, size: infos[i].Size, modTime: infos[i].ModTime}
		g.Go(func() error {
			var err error
			if packs, ok := r.cache.index(ck); ok {
				for _, p := range packs {
					r.Index.Add(p)
				}
			} else if r.cache == nil {
				// Streamed into the index: no decoded copy of the file.
				err = r.addIndexFile(gctx, id)
			} else {
				var packs []PackEntry
				if packs, err = r.LoadIndexFile(gctx, id); err == nil {
					r.cache.keepIndex(ck, packs)
					for _, p := range packs {
						r.Index.Add(p)
					}
				}
			}
			if errors.Is(err, backend.ErrNotFound) {
				return nil // replaced by a prune since the listing: its entries are in the new file
			}
			if err != nil {
				if !skippable(err) {
					return fmt.Errorf("loading the index: %w", err)
				}
				r.log.Warn("skipping an unreadable index file; verify --fix rebuilds the index from the pack headers", "file", id.Short(), "err", err)
				r.Index.mu.Lock()
				r.Index.skipped[id] = err.Error()
				r.Index.mu.Unlock()
				return nil
			}
			r.Index.mu.Lock()
			r.Index.files[id] = true
			r.Index.mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return nil
}

// vanished reports whether a loaded index file is missing from ids.
func (x *Index) vanished(ids []ID) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if len(x.files) == 0 {
		return false
	}
	listed := make(map[ID]bool, len(ids))
	for _, id := range ids {
		listed[id] = true
	}
	for id := range x.files {
		if !listed[id] {
			return true
		}
	}
	return false
}
