package engine

import (
	"context"
	"encoding/binary"
	"fmt"
	"path"
	"slices"

	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/crypto"
	"github.com/backupbot/backupbot/storage/repo"
)

// references collects the packs that snapshots' trees use. Memory: one
// map entry per tree walked and per pack used, never per chunk (but for
// blobs, when repacking).
type references struct {
	r     *repo.Repository
	seen  map[repo.ID]bool // trees walked → something below is unreadable
	packs map[repo.ID]bool
	// blobs, when not nil, collects every blob used (for repacking).
	blobs *blobSet
}

// blobSet is a set of blob IDs that keeps 8 bytes of each, in a sorted
// slice: 8 to 16 bytes per blob (a map of whole IDs takes 60 to 110). At
// 1,000,000 blobs the chance that two share their first 64 bits is below
// 1e-7, and such a collision only makes an unused blob look used (it is
// copied when its pack is repacked), never the reverse. add appends;
// duplicates are sorted out whenever the slice would grow, and by seal,
// which must run before has.
type blobSet struct {
	ids []uint64
}

func (s *blobSet) add(id repo.ID) {
	if len(s.ids) == cap(s.ids) && len(s.ids) > 0 {
		s.seal()
		if len(s.ids) < cap(s.ids)*3/4 {
			s.ids = append(s.ids, binary.LittleEndian.Uint64(id[:8]))
			return
		}
		// Mostly distinct: grow by half, not double.
		s.ids = slices.Grow(s.ids, len(s.ids)/2)
	}
	s.ids = append(s.ids, binary.LittleEndian.Uint64(id[:8]))
}

// seal sorts the set and drops duplicates.
func (s *blobSet) seal() {
	slices.Sort(s.ids)
	s.ids = slices.Compact(s.ids)
}

func (s *blobSet) has(id repo.ID) bool {
	_, ok := slices.BinarySearch(s.ids, binary.LittleEndian.Uint64(id[:8]))
	return ok
}

func newReferences(r *repo.Repository) *references {
	return &references{r: r, seen: map[repo.ID]bool{}, packs: map[repo.ID]bool{}}
}

// snapshotPacks returns a copy of the packs found so far.
func (x *references) snapshotPacks() map[repo.ID]bool {
	out := make(map[repo.ID]bool, len(x.packs))
	for id := range x.packs {
		out[id] = true
	}
	return out
}

// walk marks the packs of a tree and everything under it.
func (x *references) walk(ctx context.Context, id repo.ID) error {
	_, err := x.visit(ctx, id)
	return err
}

// visit marks the packs of a tree and everything under it, and reports
// whether some listing below it could not be read (missing from the
// index, or damaged): the data under it is then unknown. Only a
// cancelled context is an error. seen remembers the answer per tree.
func (x *references) visit(ctx context.Context, id repo.ID) (bool, error) {
	if bad, ok := x.seen[id]; ok {
		return bad, nil
	}
	x.seen[id] = false
	if err := ctx.Err(); err != nil {
		return false, err
	}
	loc, ok := x.r.Index.Lookup(id)
	if !ok {
		x.seen[id] = true
		return true, nil
	}
	x.packs[loc.Pack] = true
	if x.blobs != nil {
		x.blobs.add(id)
	}
	t, err := x.r.LoadTree(ctx, id)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return false, cerr
		}
		x.seen[id] = true
		return true, nil
	}
	for _, p := range t.Parts { // a large directory's other tree blobs
		if l, ok := x.r.Index.Lookup(p); ok {
			x.packs[l.Pack] = true
		}
		if x.blobs != nil {
			x.blobs.add(p)
		}
	}
	bad := false
	for _, n := range t.Nodes {
		for _, b := range n.Content {
			if l, ok := x.r.Index.Lookup(b); ok {
				x.packs[l.Pack] = true
			}
			if x.blobs != nil {
				x.blobs.add(b)
			}
		}
		if n.Subtree != nil {
			below, err := x.visit(ctx, *n.Subtree)
			if err != nil {
				return false, err
			}
			bad = bad || below
		}
	}
	x.seen[id] = bad
	return bad, nil
}

// storedPacks lists the packs in the backend with their sizes.
func (p *pruner) storedPacks(ctx context.Context) (map[repo.ID]int64, error) {
	stored := map[repo.ID]int64{}
	err := p.e.be.List(ctx, "data/", func(i backend.Info) error {
		if id, err := crypto.ParseID(path.Base(i.Key)); err == nil {
			stored[id] = i.Size
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing packs: %w", err)
	}
	return stored, nil
}
