package engine

import (
	"context"
	"fmt"
	"path"

	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/crypto"
	"github.com/backupbot/backupbot/storage/repo"
)

// references collects the packs that snapshots' trees use. Memory: one
// map entry per tree walked and per pack used, never per chunk.
type references struct {
	r     *repo.Repository
	seen  map[repo.ID]bool // trees walked
	packs map[repo.ID]bool
	// blobs, when not nil, collects every blob used (for repacking).
	blobs map[repo.ID]bool
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
	if x.seen[id] {
		return nil
	}
	x.seen[id] = true
	if err := ctx.Err(); err != nil {
		return err
	}
	loc, ok := x.r.Index.Lookup(id)
	if !ok {
		return fmt.Errorf("tree %s is missing from the index; run verify --fix before a cleanup", id.Short())
	}
	x.packs[loc.Pack] = true
	if x.blobs != nil {
		x.blobs[id] = true
	}
	t, err := x.r.LoadTree(ctx, id)
	if err != nil {
		return fmt.Errorf("%w; run verify before a cleanup", err)
	}
	for _, n := range t.Nodes {
		for _, b := range n.Content {
			if l, ok := x.r.Index.Lookup(b); ok {
				x.packs[l.Pack] = true
			}
			if x.blobs != nil {
				x.blobs[b] = true
			}
		}
		if n.Subtree != nil {
			if err := x.walk(ctx, *n.Subtree); err != nil {
				return err
			}
		}
	}
	return nil
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
