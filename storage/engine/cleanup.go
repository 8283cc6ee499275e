package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/repo"
	"github.com/backupbot/backupbot/storage/retention"
)

// DefaultPruneGrace is how long an unreferenced pack stays a candidate
// before a prune deletes it while other operations may be running: longer
// than any backup runs.
const DefaultPruneGrace = 24 * time.Hour

// maxIndexBlobs bounds the entries of an index file a prune writes (46
// bytes each: about 9 MiB).
const maxIndexBlobs = 200_000

// ScheduleTag is the snapshot tag naming the schedule that made it.
const ScheduleTag = "schedule"

// Cleanup forgets snapshots and reclaims the space only they used.
//
// Which snapshots go: among those matching req.Type and req.Target, with
// req.OlderThan set, those older than it; else what req.Policy's
// retention policies remove (package retention); in both cases a
// snapshot past its own expiry goes, and the floor (newest successful
// snapshot of each target, keep-tagged snapshots, the newest KeepMin,
// parents of kept incrementals and differentials) stays.
//
// Reclaiming space never blocks a backup, restore or verify: it holds a
// prune lock (only another prune or an exclusive lock conflicts) and works
// in two phases (see prune).
func (e *Engine) Cleanup(ctx context.Context, req CleanupRequest) (*CleanupResult, error) {
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	if req.Grace <= 0 {
		req.Grace = DefaultPruneGrace
	}
	var lock *repo.Lock
	var err error
	if req.DryRun {
		lock, err = e.repo.Lock(ctx, false, "cleanup --dry-run")
	} else {
		lock, err = e.repo.LockPrune(ctx, "cleanup")
	}
	if err != nil {
		return nil, err
	}
	defer e.unlock(ctx, lock)
	all, bad, err := e.repo.LoadSnapshots(ctx)
	if err != nil {
		return nil, err
	}
	res := &CleanupResult{DryRun: req.DryRun, Removed: []SnapshotInfo{}, Notices: unreadableNotices(bad)}
	var remove, keep []*repo.Snapshot
	decisions := decide(all, req, now)
	byID := map[string]*repo.Snapshot{}
	for _, sn := range all {
		byID[sn.ID.String()] = sn
	}
	decided := map[string]bool{}
	for _, d := range decisions {
		sn := byID[d.Snapshot.ID]
		decided[d.Snapshot.ID] = true
		res.Decisions = append(res.Decisions, RetentionDecision{SnapshotInfo: infoOf(sn), Keep: d.Keep, Reasons: d.Reasons})
		if d.Keep {
			keep = append(keep, sn)
		} else {
			remove = append(remove, sn)
			res.Removed = append(res.Removed, infoOf(sn))
		}
	}
	for _, sn := range all {
		if !decided[sn.ID.String()] {
			keep = append(keep, sn) // not matched by --type/--target
		}
	}
	res.Kept = len(keep)
	if req.MaxUnused == 0 {
		req.MaxUnused = DefaultMaxUnused
	}
	p := &pruner{e: e, r: e.repo, now: now, grace: req.Grace, lock: lock, res: res, maxUnused: req.MaxUnused, maxRepack: req.MaxRepackSize,
		unreadable: map[string]bool{}}
	for _, u := range bad {
		p.unreadable[path.Base(u.Key)] = true // listed already, just not readable: not a fresh snapshot
	}
	if err := p.run(ctx, keep, remove, all, req.DryRun); err != nil {
		if req.DryRun && ctx.Err() == nil {
			// The plan stands; only the space it would free is unknown.
			res.Reclaimable = -1
			res.Warnings = append(res.Warnings, "the space a cleanup would free is unknown: "+err.Error())
			return res, nil
		}
		return res, err
	}
	return res, nil
}

// decide applies the retention rules to the snapshots the request is about.
func decide(all []*repo.Snapshot, req CleanupRequest, now time.Time) []retention.Decision {
	var snaps []retention.Snapshot
	for _, sn := range all {
		if (req.Type != "" && sn.Type != req.Type) || (req.Target != "" && sn.Target != req.Target) {
			continue
		}
		snaps = append(snaps, retention.Snapshot{
			ID: sn.ID.String(), Time: sn.Time, Type: sn.Type, Target: sn.Target, Tags: sn.Tags,
			Parent: sn.Parent, ExpiresAt: sn.ExpiresAt,
		})
	}
	policyOf := func(s retention.Snapshot) (string, retention.Policy) {
		var group string
		var p retention.Policy
		switch {
		case req.OlderThan > 0:
			group, p = s.Target, retention.Policy{OlderThan: req.OlderThan}
		case req.Policy != nil:
			group, p = req.Policy(s.Target, s.Tags[ScheduleTag])
		default:
			group = s.Target
		}
		p.KeepMin = max(p.KeepMin, req.KeepMin)
		return group, p
	}
	return retention.ApplyBy(snaps, policyOf, now)
}

// pruner reclaims the space of unreferenced packs in two phases:
//
//  1. mark: every pack no remaining snapshot references becomes a
//     candidate, recorded with the time in a prune/<id> object. Candidates
//     are hidden from deduplication (repo.Index.Has), so a backup that
//     starts after the mark never refers to them.
//  2. delete, in a later run: a candidate still unreferenced whose mark is
//     older than the grace period is dropped from the index and deleted.
//     A backup that started before the mark and used a candidate has
//     finished by then (no backup runs longer than the grace), and its
//     snapshot references the pack: the pack is rescued.
//
// When nothing else holds a lock after the mark is written, indexed
// candidates are deleted at once: no backup can have seen them unhidden.
// Packs no index lists (left by a crashed backup, which a retried backup
// may still adopt) always wait for the grace.
type pruner struct {
	e     *Engine
	r     *repo.Repository
	now   time.Time
	grace time.Duration
	lock  *repo.Lock
	res   *CleanupResult

	maxUnused float64 // negative: no repacking
	maxRepack int64
	// unreadable are the snapshot files (by ID) the listing could not
	// read: damaged, not written since.
	unreadable map[string]bool
}

func (p *pruner) run(ctx context.Context, keep, remove, all []*repo.Snapshot, dryRun bool) error {
	r := p.r
	objs, err := r.PruneObjects(ctx)
	if err != nil {
		return err
	}
	// A fresh index: another process may have replaced index files.
	r.Index.Reset()
	if err := r.LoadIndex(ctx); err != nil {
		return err
	}
	// What the readable index files list; packs only their own headers
	// list (damaged index files, a killed backup) are indexed in memory
	// so that the walk finds the listings in them, but they always wait
	// for the grace (a retried backup may still adopt them).
	listed := r.Index.Packs()
	if err := p.e.recoverIndex(ctx); err != nil {
		return err
	}
	p.res.BlobsIndexed = r.Index.Count()
	refs := newReferences(r)
	var usedBlobs *blobSet
	if p.maxUnused >= 0 {
		usedBlobs = &blobSet{}
		refs.blobs = usedBlobs
	}
	losses, _, err := p.e.losses(ctx)
	if err != nil {
		return err
	}
	var unknown []string
	for _, sn := range keep {
		bad, err := refs.visit(ctx, sn.Tree)
		if err != nil {
			return err
		}
		if bad && len(losses[sn.ID]) == 0 {
			unknown = append(unknown, sn.Name+" ("+sn.ID.Short()+")")
		}
	}
	if len(unknown) > 0 {
		// A kept snapshot's listing cannot be read and verify --fix has
		// not marked what it lost: the data it needs is unknown, so no
		// pack may go. The snapshots the policy removes still go.
		if !dryRun {
			for _, sn := range remove {
				if err := r.DeleteSnapshot(ctx, sn.ID); err != nil && !errors.Is(err, backend.ErrNotFound) {
					return fmt.Errorf("removing snapshot %s: %w", sn.ID.Short(), err)
				}
			}
		}
		p.res.Notices = append(p.res.Notices, fmt.Sprintf("no pack was deleted: directory listings of %s cannot be read, so the data they need is unknown; run verify --fix first", strings.Join(unknown, ", ")))
		return nil
	}
	refs.blobs = nil
	kept := refs.snapshotPacks()
	// Packs only the removed snapshots use: referenced until now, so a
	// candidate among them is rescued and marked afresh below.
	for _, sn := range remove {
		if err := refs.walk(ctx, sn.Tree); err != nil {
			return err
		}
	}
	// The walks are done: the trees read ahead for them go (up to 64 MiB),
	// and the used blobs are sorted for lookups.
	r.ForgetTrees()
	if usedBlobs != nil {
		usedBlobs.seal()
	}
	stored, err := p.storedPacks(ctx)
	if err != nil {
		return err
	}
	marked := map[repo.ID]time.Time{}
	deleting := map[repo.ID]bool{}
	for _, po := range objs {
		for _, c := range po.Packs {
			if t, ok := marked[c.Pack]; !ok || c.Marked.After(t) {
				marked[c.Pack] = c.Marked
			}
			if c.Delete {
				deleting[c.Pack] = true
			}
		}
	}
	for id := range marked {
		if refs.packs[id] {
			delete(marked, id)
			delete(deleting, id)
			p.res.PacksRescued++
		}
	}
	unref := map[repo.ID]int64{}
	for id, size := range stored {
		if !kept[id] {
			unref[id] = size
			p.res.Reclaimable += size
		}
	}
	var plan []packUse
	if usedBlobs != nil {
		plan = p.planRepack(usedBlobs, kept, p.maxUnused, p.maxRepack)
		for _, u := range plan {
			p.res.Reclaimable += u.unused()
		}
	}
	if dryRun {
		return nil
	}
	for _, sn := range remove {
		if err := r.DeleteSnapshot(ctx, sn.ID); err != nil && !errors.Is(err, backend.ErrNotFound) {
			return fmt.Errorf("removing snapshot %s: %w", sn.ID.Short(), err)
		}
	}
	// Phase 1: mark. One object with every candidate (old marks keep
	// their time), written before the old objects go.
	ready := map[repo.ID]bool{}
	po := &repo.PruneObject{Created: p.now.UTC()}
	for id := range unref {
		t, ok := marked[id]
		if !ok {
			t = p.now.UTC()
		}
		po.Packs = append(po.Packs, repo.PruneCandidate{Pack: id, Marked: t, Delete: deleting[id]})
		if ok && (deleting[id] || p.now.Sub(t) >= p.grace) {
			ready[id] = true
		}
	}
	// Packs to repack become candidates too (hidden from here on); once
	// their used blobs are copied they are redundant.
	for _, u := range plan {
		po.Packs = append(po.Packs, repo.PruneCandidate{Pack: u.id, Marked: p.now.UTC()})
		unref[u.id] = u.size
	}
	slices.SortFunc(po.Packs, func(a, b repo.PruneCandidate) int { return bytes.Compare(a.Pack[:], b.Pack[:]) })
	if len(po.Packs) > 0 {
		if err := r.SavePruneObject(ctx, po); err != nil {
			return err
		}
	}
	for _, old := range objs {
		if old.ID != po.ID {
			if err := r.DeletePruneObject(ctx, old.ID); err != nil {
				return err
			}
		}
	}
	if len(po.Packs) == 0 {
		return nil
	}
	if len(plan) > 0 {
		// Hide the planned packs (as a fresh load would), copy; the
		// copies' entries then replace the hidden ones in the index.
		hide := map[repo.ID]bool{}
		for _, c := range po.Packs {
			hide[c.Pack] = true
		}
		r.Index.Hide(hide)
		written, damaged, err := p.repack(ctx, plan, usedBlobs)
		if err != nil {
			return err
		}
		if len(damaged) > 0 {
			// A pack that could not be read whole stays as it is (not a
			// candidate: kept snapshots still read its intact blobs);
			// verify --fix deals with it.
			kept := &repo.PruneObject{Created: p.now.UTC()}
			for _, c := range po.Packs {
				if why, bad := damaged[c.Pack]; bad {
					delete(unref, c.Pack)
					delete(ready, c.Pack)
					p.res.Warnings = append(p.res.Warnings, fmt.Sprintf("pack %s was not repacked: %v; run verify --fix", c.Pack.Short(), why))
					continue
				}
				kept.Packs = append(kept.Packs, c)
			}
			if len(kept.Packs) > 0 {
				if err := r.SavePruneObject(ctx, kept); err != nil {
					return err
				}
			}
			if err := r.DeletePruneObject(ctx, po.ID); err != nil {
				return err
			}
			po = kept
			plan = slices.DeleteFunc(plan, func(u packUse) bool { _, bad := damaged[u.id]; return bad })
		}
		p.res.PacksRepacked, p.res.BytesWritten = len(plan), written
		usedBlobs = nil
	}
	if len(ready) < len(po.Packs) {
		alone, err := p.alone(ctx)
		if err != nil {
			return err
		}
		if alone {
			for _, c := range po.Packs {
				if _, ok := listed[c.Pack]; ok {
					ready[c.Pack] = true
				}
			}
		}
	}
	// A backup that loaded the index before the mark may have written a
	// snapshot since the listing: it rescues what it uses.
	if err := p.rescueFresh(ctx, all, ready); err != nil {
		return err
	}
	// Phase 2: delete. First the decision is written down, so that a
	// crash midway (packs gone from the index but still stored) is
	// finished by the next prune without another wait.
	if len(ready) > 0 && slices.ContainsFunc(po.Packs, func(c repo.PruneCandidate) bool { return ready[c.Pack] && !c.Delete }) {
		flagged := &repo.PruneObject{Created: p.now.UTC()}
		for _, c := range po.Packs {
			c.Delete = ready[c.Pack]
			flagged.Packs = append(flagged.Packs, c)
		}
		if err := r.SavePruneObject(ctx, flagged); err != nil {
			return err
		}
		if err := r.DeletePruneObject(ctx, po.ID); err != nil {
			return err
		}
		po = flagged
	}
	if err := p.deletePacks(ctx, ready, stored); err != nil {
		return err
	}
	for _, c := range po.Packs {
		if !ready[c.Pack] {
			p.res.PacksPending++
			p.res.BytesPending += unref[c.Pack]
		}
	}
	if len(ready) > 0 {
		rest := &repo.PruneObject{Created: p.now.UTC()}
		for _, c := range po.Packs {
			if !ready[c.Pack] {
				rest.Packs = append(rest.Packs, c)
			}
		}
		if len(rest.Packs) > 0 {
			if err := r.SavePruneObject(ctx, rest); err != nil {
				return err
			}
		}
		if rest.ID != po.ID {
			if err := r.DeletePruneObject(ctx, po.ID); err != nil {
				return err
			}
		}
	}
	p.res.BytesFreed = max(0, p.res.BytesFreed-p.res.BytesWritten)
	// The index lists deleted packs: the next operation loads it afresh.
	r.Index.Reset()
	return nil
}

// alone reports whether no live lock but this prune's is held.
func (p *pruner) alone(ctx context.Context) (bool, error) {
	locks, err := p.r.Locks(ctx)
	if err != nil {
		return false, err
	}
	own := p.lock.ID()
	for _, l := range locks {
		if l.ID != own && !l.Stale {
			return false, nil
		}
	}
	return true, nil
}

// rescueFresh walks the snapshots written since the cleanup listed them
// and takes the packs they use out of ready.
func (p *pruner) rescueFresh(ctx context.Context, listed []*repo.Snapshot, ready map[repo.ID]bool) error {
	if len(ready) == 0 {
		return nil
	}
	ids, err := p.r.SnapshotIDs(ctx)
	if err != nil {
		return err
	}
	known := map[repo.ID]bool{}
	for _, sn := range listed {
		known[sn.ID] = true
	}
	var fresh []repo.ID
	for _, id := range ids {
		if !known[id] && !p.unreadable[id.String()] {
			fresh = append(fresh, id)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	// Their packs are in index files written after ours was loaded.
	if err := p.r.LoadIndex(ctx); err != nil {
		return err
	}
	refs := newReferences(p.r)
	for _, id := range fresh {
		sn, err := p.r.LoadSnapshot(ctx, id)
		if err != nil {
			return err
		}
		if err := refs.walk(ctx, sn.Tree); err != nil {
			return err
		}
	}
	for id := range refs.packs {
		if ready[id] {
			delete(ready, id)
			p.res.PacksRescued++
		}
	}
	return nil
}

// deletePacks drops the packs from the index files that list them (one
// new index file first, then the old ones go), then deletes the packs.
// A crash leaves candidates that are unindexed or already gone: the next
// prune deletes or forgets them.
func (p *pruner) deletePacks(ctx context.Context, drop map[repo.ID]bool, stored map[repo.ID]int64) error {
	if len(drop) == 0 {
		return nil
	}
	r := p.r
	files, err := r.IndexFiles(ctx)
	if err != nil {
		return err
	}
	// New index files with the surviving entries of every file that lists
	// a dropped pack, written as they fill (bounded memory); the old files
	// go only once all new ones are stored.
	var affected []repo.ID
	var survivors []repo.PackEntry
	written := map[repo.ID]bool{}
	blobs := 0
	flush := func() error {
		if len(survivors) == 0 {
			return nil
		}
		ids, err := r.SaveIndex(ctx, survivors)
		if err != nil {
			return err
		}
		for _, id := range ids {
			written[id] = true
		}
		survivors, blobs = nil, 0
		return nil
	}
	for _, f := range files {
		packs, err := r.LoadIndexFile(ctx, f)
		if errors.Is(err, backend.ErrNotFound) {
			continue
		}
		if err != nil {
			// A damaged index file is verify --fix's to quarantine, never
			// a cleanup's to delete; what it lists is unreadable anyway.
			p.e.log.Warn("skipping an unreadable index file while deleting packs", "file", f.Short(), "err", err)
			continue
		}
		if !slices.ContainsFunc(packs, func(pe repo.PackEntry) bool { return drop[pe.ID] }) {
			continue
		}
		affected = append(affected, f)
		for _, pe := range packs {
			if drop[pe.ID] {
				continue
			}
			if blobs+len(pe.Blobs) > maxIndexBlobs {
				if err := flush(); err != nil {
					return err
				}
			}
			survivors = append(survivors, pe)
			blobs += len(pe.Blobs)
		}
	}
	if err := flush(); err != nil {
		return err
	}
	for _, f := range affected {
		if written[f] {
			continue
		}
		if err := r.DeleteIndexFile(ctx, f); err != nil && !errors.Is(err, backend.ErrNotFound) {
			return err
		}
	}
	for id := range drop {
		if err := p.e.be.Delete(ctx, repo.PackKey(id)); err != nil && !errors.Is(err, backend.ErrNotFound) {
			return fmt.Errorf("deleting pack %s: %w", id.Short(), err)
		}
		p.res.PacksDeleted++
		p.res.BytesFreed += stored[id]
	}
	return nil
}
