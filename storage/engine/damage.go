package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/backupbot/backupbot/storage/repo"
	"github.com/backupbot/backupbot/storage/restorer"
)

// ErrFilesLost is returned (wrapped) by Restore when some files could not
// be restored; the result's Lost names them, everything else was written.
var ErrFilesLost = restorer.ErrFilesLost

// LostFile is one path a snapshot cannot give back, and why.
type LostFile struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

func lostFiles(in []repo.LostFile) []LostFile {
	if len(in) == 0 {
		return nil
	}
	out := make([]LostFile, len(in))
	for i, l := range in {
		out[i] = LostFile(l)
	}
	return out
}

// ListRequest says which snapshots List shows.
type ListRequest struct {
	Filter SnapshotFilter
	// Verify checks, for each snapshot listed, that every object it needs
	// is indexed and stored (index and tree reachability, no data read).
	Verify bool
}

// Listing is List's result.
type Listing struct {
	Snapshots []SnapshotInfo `json:"snapshots"`
	// Problems maps a snapshot ID to what it needs that is missing or
	// damaged (only with Verify; absent means restorable).
	Problems map[string]string `json:"problems,omitempty"`
	// Notices say what could not be read and was skipped.
	Notices []string `json:"notices,omitempty"`
}

// List lists the snapshots matching req.Filter, newest first. Snapshot
// files that cannot be read are skipped and named in Notices; snapshots
// verify --fix marked damaged are listed with the files they lost. With
// Verify, every listed snapshot whose trees or chunks are missing or
// known damaged is named in Problems.
func (e *Engine) List(ctx context.Context, req ListRequest) (*Listing, error) {
	all, bad, err := e.repo.LoadSnapshots(ctx)
	if err != nil {
		return nil, err
	}
	out := &Listing{Snapshots: []SnapshotInfo{}}
	out.Notices = append(out.Notices, unreadableNotices(bad)...)
	if !req.Verify {
		out.Notices = append(out.Notices, e.indexNotices()...)
	}
	losses, notes, err := e.losses(ctx)
	if err != nil {
		return nil, err
	}
	out.Notices = append(out.Notices, notes...)
	var picked []*repo.Snapshot
	for _, sn := range all {
		if req.Filter.match(sn) {
			info := infoOf(sn)
			info.Lost = lostFiles(losses[sn.ID])
			out.Snapshots = append(out.Snapshots, info)
			picked = append(picked, sn)
		}
	}
	if !req.Verify || len(picked) == 0 {
		return out, nil
	}
	if err := e.repo.LoadIndex(ctx); err != nil {
		return nil, err
	}
	out.Notices = append(out.Notices, e.indexNotices()...)
	rc, err := e.newReach(ctx)
	if err != nil {
		return nil, err
	}
	if rc.anyMissing(ctx, picked) {
		if err := e.recoverIndex(ctx); err != nil {
			return nil, err
		}
		if rc, err = e.newReach(ctx); err != nil {
			return nil, err
		}
	}
	out.Problems = map[string]string{}
	for _, sn := range picked {
		if why := rc.tree(ctx, sn.Tree, "/"); why != "" {
			out.Problems[sn.ID.String()] = why
		} else if l := losses[sn.ID]; len(l) > 0 {
			out.Problems[sn.ID.String()] = fmt.Sprintf("marked damaged: %d files lost (%s: %s)", len(l), l[0].Path, l[0].Reason)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// losses reads the damage records: the files each snapshot has lost.
func (e *Engine) losses(ctx context.Context) (map[repo.ID][]repo.LostFile, []string, error) {
	recs, bad, err := e.repo.DamageRecords(ctx)
	if err != nil {
		return nil, nil, err
	}
	return repo.SnapshotLosses(recs), unreadableNotices(bad), nil
}

func unreadableNotices(bad []repo.Unreadable) []string {
	var out []string
	for _, u := range bad {
		out = append(out, fmt.Sprintf("skipped %s: it cannot be read (%v); run verify --fix to move it to quarantine", u.Key, u.Err))
	}
	return out
}

// indexNotices names the index files LoadIndex skipped.
func (e *Engine) indexNotices() []string {
	skipped := e.repo.Index.Skipped()
	ids := make([]repo.ID, 0, len(skipped))
	for id := range skipped {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b repo.ID) int { return bytes.Compare(a[:], b[:]) })
	var out []string
	for _, id := range ids {
		out = append(out, fmt.Sprintf("skipped index file %s: %s; the pack headers were read instead (verify --fix rebuilds the index)", id.Short(), skipped[id]))
	}
	return out
}

// recoverIndex indexes, from their own headers, the packs no readable
// index file lists.
func (e *Engine) recoverIndex(ctx context.Context) error {
	added, bad, err := e.repo.RecoverIndex(ctx)
	if err != nil {
		return err
	}
	if len(added) > 0 {
		e.log.Warn("indexed packs from their headers: the index files do not list them (verify --fix rebuilds the index)", "packs", len(added))
	}
	for _, u := range bad {
		e.log.Warn("a pack no index lists has an unreadable header", "pack", u.Key, "err", u.Err)
	}
	return nil
}

// reach answers, from the index and the stored packs alone, whether
// everything a tree needs is there. Results are cached by tree.
type reach struct {
	e       *Engine
	stored  map[repo.ID]int64
	indexed map[repo.ID]int64
	memo    map[repo.ID]string
	// used holds the packs the visited trees need.
	used map[repo.ID]bool
	// unreadable counts trees that could not be read.
	unreadable int
}

func (e *Engine) newReach(ctx context.Context) (*reach, error) {
	stored, err := e.repo.StoredPacks(ctx)
	if err != nil {
		return nil, err
	}
	return &reach{e: e, stored: stored, indexed: e.repo.Index.Packs(), memo: map[repo.ID]string{}, used: map[repo.ID]bool{}}, nil
}

// blob says what is wrong with one needed blob ("" when it is indexed and
// its pack is stored whole).
func (rc *reach) blob(id repo.ID, what string) string {
	loc, ok := rc.e.repo.Index.Lookup(id)
	if !ok {
		return fmt.Sprintf("%s %s is missing from the index (gone, or found damaged)", what, id.Short())
	}
	rc.used[loc.Pack] = true
	size, ok := rc.stored[loc.Pack]
	switch {
	case !ok:
		return fmt.Sprintf("%s %s: its pack %s is missing", what, id.Short(), loc.Pack.Short())
	case int64(loc.Offset)+int64(loc.Length) > size:
		return fmt.Sprintf("%s %s: its pack %s is truncated (%d bytes, the index expects %d)", what, id.Short(), loc.Pack.Short(), size, rc.indexed[loc.Pack])
	}
	return ""
}

// tree checks a tree and everything below it; it returns the first
// problem found ("" when none).
func (rc *reach) tree(ctx context.Context, id repo.ID, dir string) string {
	if why, ok := rc.memo[id]; ok {
		return why
	}
	why := rc.blob(id, "directory listing of "+dir+",")
	if why != "" {
		rc.unreadable++
		rc.memo[id] = why
		return why
	}
	t, err := rc.e.repo.LoadTree(ctx, id)
	if err != nil {
		rc.unreadable++
		why = fmt.Sprintf("directory listing of %s cannot be read: %v", dir, err)
		rc.memo[id] = why
		return why
	}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		p := dir + n.FileName()
		for _, c := range n.Content {
			if w := rc.blob(c, p+": chunk"); w != "" && why == "" {
				why = w
			}
		}
		if n.Subtree != nil {
			if w := rc.tree(ctx, *n.Subtree, p+"/"); w != "" && why == "" {
				why = w
			}
		}
	}
	rc.memo[id] = why
	return why
}

// anyMissing reports whether some blob the snapshots need is not indexed
// (so reading pack headers could find it), or index files were skipped.
func (rc *reach) anyMissing(ctx context.Context, snaps []*repo.Snapshot) bool {
	if len(rc.e.repo.Index.Skipped()) > 0 {
		return true
	}
	for _, sn := range snaps {
		rc.tree(ctx, sn.Tree, "/")
	}
	for _, why := range rc.memo {
		if why != "" {
			return true
		}
	}
	return false
}

// isLost reports whether err says some files could not be restored.
func isLost(err error) bool { return errors.Is(err, ErrFilesLost) }

// lostIn lists every file below a tree whose data the repository cannot
// give back, and every directory whose listing is gone (nothing below it
// can be named).
func (rc *reach) lostIn(ctx context.Context, root repo.ID) []repo.LostFile {
	var out []repo.LostFile
	var walk func(id repo.ID, dir string)
	walk = func(id repo.ID, dir string) {
		if ctx.Err() != nil {
			return
		}
		if why := rc.blob(id, "directory listing"); why != "" {
			out = append(out, repo.LostFile{Path: dir, Reason: why + "; nothing below it can be restored"})
			return
		}
		t, err := rc.e.repo.LoadTree(ctx, id)
		if err != nil {
			out = append(out, repo.LostFile{Path: dir, Reason: fmt.Sprintf("directory listing cannot be read (%v); nothing below it can be restored", err)})
			return
		}
		for i := range t.Nodes {
			n := &t.Nodes[i]
			p := dir + n.FileName()
			for _, c := range n.Content {
				if why := rc.blob(c, "chunk"); why != "" {
					out = append(out, repo.LostFile{Path: p, Reason: why})
					break
				}
			}
			if n.Subtree != nil {
				walk(*n.Subtree, p+"/")
			}
		}
	}
	walk(root, "/")
	return out
}

// excludeGone drops from the in-memory index every blob whose pack is
// missing or ends before it, so a backup stores that data again instead
// of deduplicating onto something that cannot be read back.
func (e *Engine) excludeGone(ctx context.Context) error {
	stored, err := e.repo.StoredPacks(ctx)
	if err != nil {
		return err
	}
	indexed := e.repo.Index.Packs()
	short := false
	for id, size := range indexed {
		if got, ok := stored[id]; !ok || got != size {
			short = true
			break
		}
	}
	if !short {
		return nil
	}
	var drop []repo.Location
	e.repo.Index.Each(func(l repo.Location) {
		if got, ok := stored[l.Pack]; !ok || int64(l.Offset)+int64(l.Length) > got {
			drop = append(drop, l)
		}
	})
	for _, l := range drop {
		e.repo.Index.Exclude(l.ID, l.Pack)
	}
	e.log.Warn("packs listed in the index are missing or truncated; their lost data is stored again (verify --fix repairs the index)", "blobs", len(drop))
	return nil
}

// packsInUse returns the packs the snapshots need, reading the headers of
// packs no index file lists first (so none that holds needed data looks
// unused). When a directory listing cannot be read, what lies below it is
// unknown: unless verify --fix has marked every such snapshot damaged,
// keepAll says why no pack may be deleted.
func (e *Engine) packsInUse(ctx context.Context, snaps []*repo.Snapshot) (map[repo.ID]bool, string, error) {
	if err := e.recoverIndex(ctx); err != nil {
		return nil, "", err
	}
	r := e.repo
	used := map[repo.ID]bool{}
	memo := map[repo.ID]bool{} // tree → something below it is unreadable
	var walk func(id repo.ID) bool
	walk = func(id repo.ID) bool {
		if bad, ok := memo[id]; ok {
			return bad
		}
		memo[id] = false
		loc, ok := r.Index.Lookup(id)
		if !ok {
			memo[id] = true
			return true
		}
		used[loc.Pack] = true
		t, err := r.LoadTree(ctx, id)
		if err != nil {
			memo[id] = true
			return true
		}
		for _, p := range t.Parts { // a large directory's other tree blobs
			if l, ok := r.Index.Lookup(p); ok {
				used[l.Pack] = true
			}
		}
		bad := false
		for _, n := range t.Nodes {
			for _, b := range n.Content {
				if l, ok := r.Index.Lookup(b); ok {
					used[l.Pack] = true
				}
			}
			if n.Subtree != nil && walk(*n.Subtree) {
				bad = true
			}
		}
		memo[id] = bad
		return bad
	}
	losses, _, err := e.losses(ctx)
	if err != nil {
		return nil, "", err
	}
	var unmarked []string
	for _, sn := range snaps {
		if walk(sn.Tree) && len(losses[sn.ID]) == 0 {
			unmarked = append(unmarked, sn.Name+" ("+sn.ID.Short()+")")
		}
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
	}
	if len(unmarked) > 0 {
		return nil, fmt.Sprintf("no pack was deleted: directory listings of %s cannot be read, so the data they need is unknown; run verify --fix first", strings.Join(unmarked, ", ")), nil
	}
	return used, "", nil
}
