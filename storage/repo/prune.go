package repo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/backupbot/backupbot/storage/backend"
)

// prunePrefix holds the prune candidate objects (see FORMAT.md, "Prune").
const prunePrefix = "prune/"

// PruneCandidate is one pack a prune found unreferenced, and when.
type PruneCandidate struct {
	Pack   ID        `json:"pack"`
	Marked time.Time `json:"marked"`
	// Delete says a prune decided to delete the pack (and may have begun:
	// it can be gone from the index already); the next prune deletes it
	// without waiting, if still unreferenced.
	Delete bool `json:"delete,omitempty"`
}

// PruneObject is one sealed prune/<id> object: the packs a prune marked
// as candidates for deletion. A pack listed in any prune object is hidden
// from deduplication (Index.Has), so no backup that starts after the mark
// comes to reference it; it is deleted by a later prune once it is still
// unreferenced and its mark is older than the grace period.
type PruneObject struct {
	ID      ID               `json:"-"`
	Created time.Time        `json:"created"`
	Host    string           `json:"host"`
	Packs   []PruneCandidate `json:"packs"`
}

// SavePruneObject writes a prune object and sets its ID.
func (r *Repository) SavePruneObject(ctx context.Context, po *PruneObject) error {
	if po.Created.IsZero() {
		po.Created = time.Now().UTC()
	}
	if po.Host == "" {
		po.Host, _ = os.Hostname()
	}
	if err := r.saveJSONAs(ctx, prunePrefix, po, &po.ID); err != nil {
		return fmt.Errorf("writing the prune candidates: %w", err)
	}
	return nil
}

// PruneObjects reads every prune object. One deleted between listing and
// reading (a prune finishing) is skipped.
func (r *Repository) PruneObjects(ctx context.Context) ([]*PruneObject, error) {
	ids, err := r.listIDs(ctx, prunePrefix)
	if err != nil {
		return nil, err
	}
	var out []*PruneObject
	for _, id := range ids {
		var po PruneObject
		err := r.loadJSON(ctx, prunePrefix, id, &po)
		if errors.Is(err, backend.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading prune candidates %s: %w (verify --fix removes a damaged one; the next prune marks afresh)", id.Short(), err)
		}
		po.ID = id
		out = append(out, &po)
	}
	return out, nil
}

// DeletePruneObject removes one prune object (prune lock only).
func (r *Repository) DeletePruneObject(ctx context.Context, id ID) error {
	err := r.be.Delete(ctx, prunePrefix+id.String())
	if err != nil && !errors.Is(err, backend.ErrNotFound) {
		return fmt.Errorf("deleting prune candidates %s: %w", id.Short(), err)
	}
	return nil
}

// loadHidden reads the prune objects and hides their packs from
// deduplication. It runs before the index files are listed, so a pack a
// prune deletes is either hidden or already gone from the index files
// this load reads (a prune rewrites the index before it deletes packs and
// drops them from its candidates only after deleting them).
func (r *Repository) loadHidden(ctx context.Context) error {
	objs, err := r.PruneObjects(ctx)
	if err != nil {
		return err
	}
	hidden := map[ID]bool{}
	for _, po := range objs {
		for _, c := range po.Packs {
			hidden[c.Pack] = true
		}
	}
	r.Index.mu.Lock()
	r.Index.hidden = hidden
	r.Index.mu.Unlock()
	return nil
}

// Hidden reports whether a pack is a prune candidate (as of the last
// LoadIndex).
func (x *Index) Hidden(pack ID) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.hidden[pack]
}

// Hide adds packs to the hidden set, as loading a prune object that lists
// them would (a prune that just wrote one need not reload the index).
func (x *Index) Hide(packs map[ID]bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.hidden == nil {
		x.hidden = map[ID]bool{}
	}
	for id := range packs {
		x.hidden[id] = true
	}
}
