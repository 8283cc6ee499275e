package engine

import (
	"context"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/crypto"
	"github.com/backupbot/backupbot/storage/repo"
)

// Cleanup forgets snapshots and removes the data only they used. Among the
// snapshots matching req.Type and req.Target, the newest req.KeepMin are
// always kept; of the rest, those older than req.OlderThan (when set) and
// those past their retention (ExpiresAt) are removed. Then, under the
// exclusive lock, packs no remaining snapshot needs are deleted, after a
// new index that no longer lists them has been written.
func (e *Engine) Cleanup(ctx context.Context, req CleanupRequest) (*CleanupResult, error) {
	lock, err := e.repo.Lock(ctx, !req.DryRun, "cleanup")
	if err != nil {
		return nil, err
	}
	defer e.unlock(ctx, lock)
	all, bad, err := e.repo.LoadSnapshots(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	res := &CleanupResult{DryRun: req.DryRun, Removed: []SnapshotInfo{}, Notices: unreadableNotices(bad)}
	var remove []*repo.Snapshot
	matched := 0
	for _, sn := range all {
		if (req.Type != "" && sn.Type != req.Type) || (req.Target != "" && sn.Target != req.Target) {
			continue
		}
		matched++
		if matched <= req.KeepMin {
			continue
		}
		old := req.OlderThan > 0 && now.Sub(sn.Time) > req.OlderThan
		expired := !sn.ExpiresAt.IsZero() && now.After(sn.ExpiresAt)
		if old || expired {
			remove = append(remove, sn)
			res.Removed = append(res.Removed, infoOf(sn))
		}
	}
	res.Kept = len(all) - len(remove)
	if req.DryRun {
		return res, nil
	}
	for _, sn := range remove {
		if err := e.repo.DeleteSnapshot(ctx, sn.ID); err != nil && !errors.Is(err, backend.ErrNotFound) {
			return res, fmt.Errorf("removing snapshot %s: %w", sn.ID.Short(), err)
		}
	}
	if err := e.prune(ctx, res); err != nil {
		return res, err
	}
	return res, nil
}

// prune deletes packs that no snapshot needs. Packs that are only partly
// used stay whole. Order: new index, then old index files, then packs, so
// a crash leaves at worst extra data, never a dangling reference.
func (e *Engine) prune(ctx context.Context, res *CleanupResult) error {
	r := e.repo
	if err := r.LoadIndex(ctx); err != nil {
		return err
	}
	snaps, err := r.Snapshots(ctx)
	if err != nil {
		return err
	}
	usedPacks, keepAll, err := e.packsInUse(ctx, snaps)
	if err != nil {
		return err
	}
	if keepAll != "" {
		res.Notices = append(res.Notices, keepAll)
		return nil
	}
	stored := map[repo.ID]int64{}
	if err := e.be.List(ctx, "data/", func(i backend.Info) error {
		if id, err := crypto.ParseID(path.Base(i.Key)); err == nil {
			stored[id] = i.Size
		}
		return nil
	}); err != nil {
		return err
	}
	indexed := r.Index.Packs()
	var keep []repo.PackEntry
	byPack := map[repo.ID][]repo.Location{}
	r.Index.Each(func(l repo.Location) {
		if usedPacks[l.Pack] {
			byPack[l.Pack] = append(byPack[l.Pack], l)
		}
	})
	for id, locs := range byPack {
		pe := repo.PackEntry{ID: id, Size: indexed[id]}
		for _, l := range locs {
			pe.Blobs = append(pe.Blobs, l.Blob)
		}
		keep = append(keep, pe)
	}
	var drop []repo.ID
	for id, size := range stored {
		if !usedPacks[id] {
			drop = append(drop, id)
			res.BytesFreed += size
		}
	}
	if len(drop) == 0 {
		return nil
	}
	oldFiles, err := r.IndexFiles(ctx)
	if err != nil {
		return err
	}
	newID, err := r.SaveIndex(ctx, keep)
	if err != nil {
		return err
	}
	skipped := r.Index.Skipped() // damaged index files are verify --fix's to quarantine
	for _, f := range oldFiles {
		if _, bad := skipped[f]; f != newID && !bad {
			if err := r.DeleteIndexFile(ctx, f); err != nil && !errors.Is(err, backend.ErrNotFound) {
				return err
			}
		}
	}
	for _, id := range drop {
		if err := e.be.Delete(ctx, repo.PackKey(id)); err != nil && !errors.Is(err, backend.ErrNotFound) {
			return fmt.Errorf("deleting pack %s: %w", id.Short(), err)
		}
		res.PacksDeleted++
	}
	// The in-memory index still lists the dropped packs: start afresh.
	r.Index.Reset()
	return r.LoadIndex(ctx)
}
