package engine

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/backupbot/backupbot/storage/pack"
	"github.com/backupbot/backupbot/storage/repo"
)

// DefaultMaxUnused is the share of unused bytes in kept packs a cleanup
// tolerates before it repacks (restic's default too).
const DefaultMaxUnused = 0.05

// packUse is how much of a kept pack the remaining snapshots use.
type packUse struct {
	id         repo.ID
	size, used int64
}

func (u packUse) unused() int64 { return max(u.size-u.used, 0) }

// planRepack chooses kept packs to rewrite: those with the most unused
// bytes first, until the unused bytes left are at most maxUnused of the
// used ones, and small packs when together they fill at least one pack;
// never more than maxSize bytes of packs (0: no limit).
func (p *pruner) planRepack(usedBlobs *blobSet, kept map[repo.ID]bool, maxUnused float64, maxSize int64) []packUse {
	sizes := p.r.Index.Packs()
	use := map[repo.ID]*packUse{}
	for id := range kept {
		if size, ok := sizes[id]; ok {
			use[id] = &packUse{id: id, size: size}
		}
	}
	p.r.Index.Each(func(l repo.Location) {
		if u := use[l.Pack]; u != nil && usedBlobs.has(l.Blob.ID) {
			u.used += int64(l.Length)
		}
	})
	var all []packUse
	var totalUsed, totalUnused int64
	for _, u := range use {
		all = append(all, *u)
		totalUsed += u.used
		totalUnused += u.unused()
	}
	slices.SortFunc(all, func(a, b packUse) int {
		// Most unused (by share) first; ties by ID for a stable plan.
		if c := cmp.Compare(b.unused()*a.size, a.unused()*b.size); c != 0 {
			return c
		}
		return slices.Compare(a.id[:], b.id[:])
	})
	var out []packUse
	var budget int64
	take := func(u packUse) bool {
		if maxSize > 0 && budget+u.size > maxSize {
			return false
		}
		budget += u.size
		out = append(out, u)
		return true
	}
	chosen := map[repo.ID]bool{}
	allowed := int64(maxUnused * float64(totalUsed))
	for _, u := range all {
		if totalUnused <= allowed || u.unused() == 0 {
			break
		}
		if take(u) {
			chosen[u.id] = true
			totalUnused -= u.unused()
		}
	}
	// Small packs (many tiny incrementals) are merged once together they
	// make at least one full pack.
	var small []packUse
	var smallBytes int64
	for _, u := range all {
		if !chosen[u.id] && u.size < repo.DefaultPackSize/4 {
			small = append(small, u)
			smallBytes += u.used
		}
	}
	if len(small) >= 2 && smallBytes >= repo.DefaultPackSize {
		for _, u := range small {
			take(u)
		}
	}
	return out
}

// repack copies the used blobs of the packs into new packs through a
// saver (the packs are already hidden prune candidates, so the saver
// stores their blobs again) and writes their index. The old packs are
// then redundant and go like any candidate.
//
// It works pack by pack: one pack is read into a buffer reused for the
// next, its blobs come from its own header, and a blob is copied when it
// is used and the index reads it from this pack (a blob stored twice is
// copied once, from where the index reads it). Memory: one pack and the
// saver's pack under construction, whatever the number of packs.
//
// A pack that cannot be read whole (damaged, cut short, gone) is skipped
// and returned in damaged with why: the caller leaves it in place.
func (p *pruner) repack(ctx context.Context, packs []packUse, usedBlobs *blobSet) (int64, map[repo.ID]error, error) {
	damaged := map[repo.ID]error{}
	if len(packs) == 0 {
		return 0, damaged, nil
	}
	r := p.r
	saver := r.NewSaver(ctx, repo.SaverOptions{})
	var buf, plain []byte
	var saved, written int64
	for _, u := range packs {
		if u.used == 0 {
			continue
		}
		var err error
		buf, err = p.readPack(ctx, u, buf)
		var blobs []pack.Blob
		if err == nil {
			blobs, err = r.PackBlobs(u.id, buf)
		}
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				saver.Abort()
				return 0, nil, cerr
			}
			damaged[u.id] = err
			continue
		}
		for _, b := range blobs {
			if !usedBlobs.has(b.ID) {
				continue
			}
			l, ok := r.Index.Lookup(b.ID)
			if !ok || l.Pack != u.id {
				continue // read from another pack (or known damaged here)
			}
			end := int64(l.Offset) + int64(l.Length)
			if end > int64(len(buf)) {
				damaged[u.id] = fmt.Errorf("it is shorter than its index says: %w", repo.ErrDamaged)
				break
			}
			plain, err = r.OpenBlob(l.Blob, buf[l.Offset:end], plain)
			if err != nil {
				damaged[u.id] = err
				break
			}
			if !saver.Reserve(l.Blob.ID) {
				continue // stored elsewhere (a backup meanwhile) or twice here
			}
			if _, err := saver.Save(l.Type, l.Blob.ID, plain, true); err != nil {
				saver.Abort()
				return 0, nil, fmt.Errorf("repacking: %w", err)
			}
			if saved++; saved%maxIndexBlobs == 0 {
				// One index file per maxIndexBlobs blobs: readers bound
				// what they decompress.
				st, err := saver.Flush(ctx)
				if err != nil {
					return 0, nil, fmt.Errorf("repacking: writing the new packs: %w", err)
				}
				written += st.PackBytes + st.IndexBytes
				saver = r.NewSaver(ctx, repo.SaverOptions{})
			}
		}
	}
	st, err := saver.Flush(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("repacking: writing the new packs: %w", err)
	}
	return written + st.PackBytes + st.IndexBytes, damaged, nil
}

// readPack reads a whole pack of the size the index gives into buf's
// storage (grown when too small) and returns it.
func (p *pruner) readPack(ctx context.Context, u packUse, buf []byte) ([]byte, error) {
	rc, err := p.e.be.Get(ctx, repo.PackKey(u.id), 0, u.size)
	if err != nil {
		return buf, fmt.Errorf("reading it: %w", err)
	}
	defer rc.Close()
	if int64(cap(buf)) < u.size {
		buf = make([]byte, u.size)
	}
	buf = buf[:u.size]
	if _, err := io.ReadFull(rc, buf); err != nil {
		return buf[:0], fmt.Errorf("reading it: %w", err)
	}
	return buf, nil
}
