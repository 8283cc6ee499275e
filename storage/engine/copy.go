package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/crypto"
	"github.com/backupbot/backupbot/storage/pack"
	"github.com/backupbot/backupbot/storage/repo"
)

// CopyRequest says which snapshot of the source repository to copy.
type CopyRequest struct {
	// Snapshot is a reference as for Find ("" or "latest": the newest).
	Snapshot string
	// Target narrows the snapshots Snapshot chooses from.
	Target string
	// SourceStorage is the source's configured storage name, recorded in
	// the copy's origin for people (list shows where copies are).
	SourceStorage string
	// JobID names the copy job, for the destination's lock: a retry of
	// the job takes over the lock a killed attempt left.
	JobID string
}

// CopyResult summarises a copy.
type CopyResult struct {
	// Source is the snapshot copied; Snapshot its copy in the destination.
	Source   SnapshotInfo `json:"source"`
	Snapshot SnapshotInfo `json:"snapshot"`
	// Reused is true when the destination already held a copy of Source:
	// nothing was read or written.
	Reused bool `json:"reused,omitempty"`
	// BlobsCopied blobs (BytesCopied bytes of plaintext) were written to
	// the destination; BlobsPresent were there already.
	BlobsCopied  int64 `json:"blobs_copied"`
	BytesCopied  int64 `json:"bytes_copied"`
	BlobsPresent int64 `json:"blobs_present"`
	// BytesRead is the plaintext read from the source (blobs the
	// destination was already known to hold are not read).
	BytesRead int64 `json:"bytes_read"`
	// BytesWritten is what the destination grew by: packs, index and
	// snapshot file.
	BytesWritten int64         `json:"bytes_written"`
	Duration     time.Duration `json:"duration"`
	// ResumedPacks are packs an interrupted earlier copy had uploaded that
	// this one adopted.
	ResumedPacks int `json:"resumed_packs,omitempty"`
}

// Copy copies one snapshot of src into this repository, as restic's
// `copy` does: only the blobs this repository lacks travel. Blob IDs are
// keyed per repository (FORMAT.md), so every blob gets its ID under this
// repository's key and every directory listing is rewritten with the
// new IDs, bottom-up. What an earlier copy from the same source stored
// is known without reading it again: the trees of each earlier copy and
// of its source snapshot have the same shape, so walking both side by
// side maps the source's IDs to this repository's.
//
// The write order is a backup's (packs, one index file, the snapshot),
// so a copy that stops short leaves only extra data, which the next
// attempt deduplicates onto (or adopts, after a crash). A snapshot is
// copied once: a second call finds the copy by its origin and returns it.
func (e *Engine) Copy(ctx context.Context, src *Engine, req CopyRequest, p ProgressFunc) (*CopyResult, error) {
	start := time.Now()
	srcLock, err := src.repo.Lock(ctx, false, "copy from")
	if err != nil {
		return nil, fmt.Errorf("copy: locking the source %s: %w", src.Location(), err)
	}
	defer src.unlock(ctx, srcLock)
	if err := src.repo.LoadIndex(ctx); err != nil {
		return nil, fmt.Errorf("copy: loading the source's index: %w", err)
	}
	srcSnaps, err := src.repo.Snapshots(ctx)
	if err != nil {
		return nil, fmt.Errorf("copy: listing the source's snapshots: %w", err)
	}
	if req.Target != "" {
		kept := srcSnaps[:0:0]
		for _, sn := range srcSnaps {
			if sn.Target == req.Target {
				kept = append(kept, sn)
			}
		}
		srcSnaps = kept
	}
	sn, err := resolve(srcSnaps, req.Snapshot)
	if err != nil {
		return nil, fmt.Errorf("copy from %s: %w", src.Location(), err)
	}
	srcRepoID := src.repo.Config().ID
	if srcRepoID == e.repo.Config().ID {
		return nil, fmt.Errorf("copy: %s and %s are the same repository; name another storage", src.Location(), e.Location())
	}

	lock, err := e.repo.LockJob(ctx, false, "copy "+sn.Target, req.JobID)
	if err != nil {
		return nil, fmt.Errorf("copy: locking the destination %s: %w", e.Location(), err)
	}
	defer e.unlock(ctx, lock)
	if err := e.repo.LoadIndex(ctx); err != nil {
		return nil, fmt.Errorf("copy: loading the destination's index: %w", err)
	}
	lostIndex := len(e.repo.Index.Skipped()) > 0
	if err := e.excludeGone(ctx); err != nil {
		return nil, err
	}
	dstSnaps, err := e.repo.Snapshots(ctx)
	if err != nil {
		return nil, fmt.Errorf("copy: listing the destination's snapshots: %w", err)
	}
	res := &CopyResult{Source: infoOf(sn)}
	for _, d := range dstSnaps {
		if d.Origin != nil && d.Origin.Repository == srcRepoID && d.Origin.Snapshot == sn.ID.String() {
			e.log.Info("the destination holds a copy of this snapshot already", "snapshot", sn.ID.Short(), "copy", d.ID.Short())
			res.Snapshot, res.Reused, res.Duration = infoOf(d), true, time.Since(start)
			return res, nil
		}
	}
	adopted, ast, err := e.resume(ctx, lock, lostIndex)
	if err != nil {
		return nil, fmt.Errorf("copy of %s: looking for packs of an interrupted copy to resume from: %w", sn.Name, err)
	}
	res.ResumedPacks = ast.Packs

	c := &copier{src: src.repo, dst: e.repo, trees: map[repo.ID]repo.ID{}, data: map[repo.ID]repo.ID{}, p: p, total: sn.Size}
	c.learn(ctx, srcSnaps, dstSnaps, srcRepoID, sn.Target, e.log)

	uploads := repo.DefaultUploads
	if len(e.localDirs()) > 0 {
		uploads = 1
	}
	c.saver = e.repo.NewSaver(ctx, repo.SaverOptions{Uploads: uploads})
	c.saver.Adopt(adopted)
	root, err := c.tree(ctx, sn.Tree, "/")
	if err != nil {
		c.saver.Abort()
		return nil, e.stoppedShort(ctx, c.saver, err, "copy of "+sn.Name+" failed; no snapshot was written")
	}
	if p != nil {
		p(Progress{Phase: PhaseCommit, Bytes: c.read, BytesTotal: c.total})
	}
	ss, err := c.saver.Flush(ctx)
	if err != nil {
		return nil, e.stoppedShort(ctx, c.saver, err, "copy of "+sn.Name+" failed while writing packs and index")
	}
	cp := *sn
	cp.ID, cp.Tree, cp.JobID, cp.Parent = repo.ID{}, root, "", ""
	cp.Origin = &repo.Origin{Snapshot: sn.ID.String(), Repository: srcRepoID, Storage: req.SourceStorage, Time: time.Now().UTC()}
	if sn.Parent != "" { // the copy's parent is the copy of the source's parent, if there is one
		for _, d := range dstSnaps {
			if d.Origin != nil && d.Origin.Repository == srcRepoID && d.Origin.Snapshot == sn.Parent {
				cp.Parent = d.ID.String()
				break
			}
		}
	}
	if err := e.repo.SaveSnapshot(ctx, &cp); err != nil {
		if backend.IsPermanent(err) {
			return nil, fmt.Errorf("copy of %s: writing the snapshot%s: %w", sn.Name, e.discard(ctx, c.saver), err)
		}
		return nil, fmt.Errorf("copy of %s: writing the snapshot: %w", sn.Name, err)
	}
	res.Snapshot = infoOf(&cp)
	res.BlobsCopied, res.BytesCopied = ss.Blobs, ss.RawBytes
	res.BlobsPresent, res.BytesRead = c.present, c.read
	res.BytesWritten = ss.PackBytes + ss.IndexBytes
	if info, err := e.be.Stat(ctx, repo.SnapshotKey(cp.ID)); err == nil {
		res.BytesWritten += info.Size
	}
	res.Duration = time.Since(start)
	return res, nil
}

// stoppedShort words a write that stopped before its snapshot: after a
// failure no retry can fix, what the saver stored is removed; otherwise
// it is indexed for the retry to reuse.
func (e *Engine) stoppedShort(ctx context.Context, saver *repo.Saver, err error, what string) error {
	if backend.IsPermanent(err) {
		return fmt.Errorf("%s%s: %w", what, e.discard(ctx, saver), err)
	}
	return fmt.Errorf("%s%s: %w", what, e.keep(ctx, saver), err)
}

// copier carries one Copy's state: the ID maps from source to destination
// and the counters.
type copier struct {
	src, dst *repo.Repository
	saver    *repo.Saver
	p        ProgressFunc

	mu      sync.Mutex
	trees   map[repo.ID]repo.ID // source tree ID -> destination tree ID
	data    map[repo.ID]repo.ID // source data blob ID -> destination ID
	present int64
	read    int64
	total   int64
}

// learn maps source IDs to destination IDs from the earlier copies of
// the source's snapshots (newest first, the target's own first): a copy's
// tree has its source's shape, node for node. Listings that cannot be
// read are skipped: their blobs are then simply read and hashed again.
func (c *copier) learn(ctx context.Context, srcSnaps, dstSnaps []*repo.Snapshot, srcRepoID, target string, log interface {
	Debug(string, ...any)
}) {
	byID := make(map[string]*repo.Snapshot, len(srcSnaps))
	for _, s := range srcSnaps {
		byID[s.ID.String()] = s
	}
	for pass := range 2 {
		for _, d := range dstSnaps {
			if d.Origin == nil || d.Origin.Repository != srcRepoID || (d.Target == target) != (pass == 0) {
				continue
			}
			s, ok := byID[d.Origin.Snapshot]
			if !ok {
				continue
			}
			if err := c.pair(ctx, s.Tree, d.Tree, 0); err != nil {
				log.Debug("copy: an earlier copy's listing could not be paired with its source", "copy", d.ID.Short(), "err", err)
			}
		}
	}
}

// pair walks a source tree and its copy side by side.
func (c *copier) pair(ctx context.Context, a, b repo.ID, depth int) error {
	if _, ok := c.trees[a]; ok {
		return nil
	}
	if depth > 4096 {
		return errors.New("directories nest too deep")
	}
	ta, err := c.src.LoadTree(ctx, a)
	if err != nil {
		return err
	}
	tb, err := c.dst.LoadTree(ctx, b)
	if err != nil {
		return err
	}
	if len(ta.Nodes) != len(tb.Nodes) {
		return fmt.Errorf("listing %s has %d entries, its copy %d", a.Short(), len(ta.Nodes), len(tb.Nodes))
	}
	for i := range ta.Nodes {
		na, nb := &ta.Nodes[i], &tb.Nodes[i]
		if na.FileName() != nb.FileName() || len(na.Content) != len(nb.Content) || (na.Subtree == nil) != (nb.Subtree == nil) {
			return fmt.Errorf("listing %s differs from its copy at %q", a.Short(), na.Name)
		}
		for j := range na.Content {
			c.data[na.Content[j]] = nb.Content[j]
		}
		if na.Subtree != nil {
			if err := c.pair(ctx, *na.Subtree, *nb.Subtree, depth+1); err != nil {
				return err
			}
		}
	}
	c.trees[a] = b
	return nil
}

// copyParallel bounds the data blobs read from the source at once (each
// holds up to a chunk, 8 MiB, in memory).
const copyParallel = 4

// tree copies the listing a (and everything below it) and returns its ID
// in the destination.
func (c *copier) tree(ctx context.Context, a repo.ID, dir string) (repo.ID, error) {
	if b, ok := c.trees[a]; ok && c.saver.Known(b) {
		return b, nil
	}
	t, err := c.src.LoadTree(ctx, a)
	if err != nil {
		return repo.ID{}, fmt.Errorf("reading the source's listing of %s: %w", dir, err)
	}
	nodes := make([]repo.Node, len(t.Nodes))
	copy(nodes, t.Nodes)
	// File contents first, several blobs at a time.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(copyParallel)
	for i := range nodes {
		n := &nodes[i]
		if len(n.Content) == 0 {
			continue
		}
		content := make([]repo.ID, len(n.Content))
		for j, id := range n.Content {
			g.Go(func() error {
				b, err := c.blob(gctx, id)
				if err != nil {
					return fmt.Errorf("%s%s: %w", dir, n.FileName(), err)
				}
				content[j] = b
				return nil
			})
		}
		n.Content = content
	}
	if err := g.Wait(); err != nil {
		return repo.ID{}, err
	}
	for i := range nodes {
		n := &nodes[i]
		if n.Subtree == nil {
			continue
		}
		b, err := c.tree(ctx, *n.Subtree, dir+n.FileName()+"/")
		if err != nil {
			return repo.ID{}, err
		}
		n.Subtree = &b
	}
	b, _, err := c.dst.SaveTree(c.saver, &repo.Tree{Nodes: nodes}, c.dst.NewHasher())
	if err != nil {
		return repo.ID{}, fmt.Errorf("storing the listing of %s: %w", dir, err)
	}
	c.trees[a] = b
	if c.p != nil {
		c.mu.Lock()
		read := c.read
		c.mu.Unlock()
		c.p(Progress{Phase: PhaseCopy, Bytes: read, BytesTotal: c.total, Path: dir})
	}
	return b, nil
}

// blob copies one data blob unless the destination holds it, and returns
// its ID there.
func (c *copier) blob(ctx context.Context, a repo.ID) (repo.ID, error) {
	c.mu.Lock()
	b, ok := c.data[a]
	c.mu.Unlock()
	if ok && c.saver.Known(b) {
		c.mu.Lock()
		c.present++
		c.mu.Unlock()
		return b, nil
	}
	loc, found := c.src.Index.Lookup(a)
	if !found {
		return repo.ID{}, fmt.Errorf("chunk %s: %w", a.Short(), repo.ErrBlobNotFound)
	}
	plain, err := c.src.LoadBlob(ctx, a, nil)
	if err != nil {
		return repo.ID{}, err
	}
	b = hashWith(c.dst, plain)
	c.mu.Lock()
	c.read += int64(len(plain))
	c.data[a] = b
	c.mu.Unlock()
	if !c.saver.Reserve(b) {
		c.mu.Lock()
		c.present++
		c.mu.Unlock()
		return b, nil
	}
	if _, err := c.saver.Save(pack.DataBlob, b, plain, loc.Compressed); err != nil {
		return repo.ID{}, err
	}
	return b, nil
}

// hashWith is a blob's ID in r.
func hashWith(r *repo.Repository, plain []byte) crypto.ID { return r.NewHasher().Sum(plain) }
