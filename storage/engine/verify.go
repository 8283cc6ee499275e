package engine

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/crypto"
	"github.com/backupbot/backupbot/storage/pack"
	"github.com/backupbot/backupbot/storage/repo"
)

// maxRefs bounds how many files a damaged blob is reported for.
const maxRefs = 5

type blobRef struct{ snapshot, file string }

type checker struct {
	e      *Engine
	rep    *VerifyReport
	mu     sync.Mutex
	index  *repo.Index
	stored map[repo.ID]int64 // packs in the backend
	refs   map[repo.ID][]blobRef
	trees  map[repo.ID]*repo.Tree
	used   map[repo.ID]bool // packs holding blobs of the checked snapshots
}

func (c *checker) problem(p Problem) {
	c.mu.Lock()
	c.rep.Problems = append(c.rep.Problems, p)
	c.mu.Unlock()
}

// Verify checks the repository's structure (index, packs present with the
// right sizes, snapshots and trees readable, every chunk indexed) for the
// chosen snapshots, and with Deep reads, decrypts and hashes every chunk
// they need, naming each damaged file. Fix rebuilds the index from the
// packs' own headers and breaks stale locks.
func (e *Engine) Verify(ctx context.Context, req VerifyRequest, p ProgressFunc) (*VerifyReport, error) {
	lock, err := e.repo.Lock(ctx, req.Fix, "verify")
	if err != nil {
		return nil, err
	}
	defer e.unlock(ctx, lock)
	c := &checker{e: e, rep: &VerifyReport{}, index: repo.NewIndex(), stored: map[repo.ID]int64{},
		refs: map[repo.ID][]blobRef{}, trees: map[repo.ID]*repo.Tree{}, used: map[repo.ID]bool{}}
	if err := c.locks(ctx, req.Fix); err != nil {
		return nil, err
	}
	if req.Fix {
		if err := c.rebuildIndex(ctx); err != nil {
			return nil, err
		}
	}
	if err := c.structure(ctx); err != nil {
		return nil, err
	}
	snaps, err := c.snapshots(ctx, req)
	if err != nil {
		return nil, err
	}
	for _, sn := range snaps {
		c.walk(ctx, sn, sn.Tree, "/")
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	if req.Deep {
		if err := c.deep(ctx, p); err != nil {
			return nil, err
		}
	}
	if req.Fix && len(c.rep.Problems) == 0 {
		_ = e.repo.LoadIndex(ctx)
	}
	return c.rep, nil
}

func (c *checker) locks(ctx context.Context, fix bool) error {
	locks, err := c.e.repo.Locks(ctx)
	if err != nil {
		return err
	}
	for _, l := range locks {
		if l.Stale {
			c.rep.StaleLocks = append(c.rep.StaleLocks, l.String())
		}
	}
	if fix && len(c.rep.StaleLocks) > 0 {
		removed, err := c.e.repo.BreakLocks(ctx, false)
		if err != nil {
			return err
		}
		for _, l := range removed {
			c.rep.Fixed = append(c.rep.Fixed, "broke "+l.String())
		}
	}
	return nil
}

// structure loads every index file and compares it with the packs stored.
func (c *checker) structure(ctx context.Context) error {
	r := c.e.repo
	if err := c.e.be.List(ctx, "data/", func(i backend.Info) error {
		if id, err := crypto.ParseID(path.Base(i.Key)); err == nil {
			c.stored[id] = i.Size
		}
		return nil
	}); err != nil {
		return fmt.Errorf("listing packs: %w", err)
	}
	files, err := r.IndexFiles(ctx)
	if err != nil {
		return err
	}
	for _, f := range files {
		packs, err := r.LoadIndexFile(ctx, f)
		if errors.Is(err, backend.ErrNotFound) {
			continue // replaced by a prune since the listing
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			c.problem(Problem{Detail: fmt.Sprintf("index file %s is unreadable: %v (verify --fix rebuilds the index)", f.Short(), err)})
			continue
		}
		for _, pk := range packs {
			c.index.Add(pk)
		}
	}
	for id, size := range c.index.Packs() {
		got, ok := c.stored[id]
		switch {
		case !ok:
			c.problem(Problem{Pack: id.String(), Detail: "pack listed in the index is missing from the storage"})
		case got != size:
			c.problem(Problem{Pack: id.String(), Detail: fmt.Sprintf("pack has %d bytes, the index expects %d", got, size)})
		}
	}
	c.rep.Packs = len(c.index.Packs())
	indexed := c.index.Packs()
	for id := range c.stored {
		if _, ok := indexed[id]; !ok {
			c.rep.Unreferenced++
		}
	}
	return nil
}

func (c *checker) snapshots(ctx context.Context, req VerifyRequest) ([]*repo.Snapshot, error) {
	r := c.e.repo
	ids, err := r.SnapshotIDs(ctx)
	if err != nil {
		return nil, err
	}
	var all []*repo.Snapshot
	for _, id := range ids {
		sn, err := r.LoadSnapshot(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			c.problem(Problem{Snapshot: id.Short(), Detail: fmt.Sprintf("snapshot file is unreadable: %v", err)})
			continue
		}
		all = append(all, sn)
	}
	repo.SortNewestFirst(all)
	if req.All {
		c.rep.Snapshots = len(all)
		return all, nil
	}
	if len(all) == 0 && req.Snapshot == "" {
		return nil, nil
	}
	sn, err := resolve(all, req.Snapshot)
	if err != nil {
		return nil, err
	}
	c.rep.Snapshots = 1
	return []*repo.Snapshot{sn}, nil
}

func snapLabel(sn *repo.Snapshot) string { return sn.Name + " (" + sn.ID.Short() + ")" }

// walk checks a tree and everything below it for one snapshot.
func (c *checker) walk(ctx context.Context, sn *repo.Snapshot, id repo.ID, dir string) {
	if ctx.Err() != nil {
		return
	}
	t, ok := c.trees[id]
	if !ok {
		loc, found := c.index.Lookup(id)
		if !found {
			c.problem(Problem{Snapshot: snapLabel(sn), File: dir, Detail: fmt.Sprintf("directory listing %s is missing from the index", id.Short())})
			return
		}
		c.used[loc.Pack] = true
		var err error
		t, err = c.loadTree(ctx, loc)
		if err != nil {
			c.problem(Problem{Snapshot: snapLabel(sn), File: dir, Pack: loc.Pack.String(), Detail: fmt.Sprintf("directory listing is unreadable: %v", err)})
			return
		}
		c.trees[id] = t
	}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		p := path.Join(dir, n.FileName())
		switch n.Type {
		case repo.NodeDir:
			if n.Subtree != nil {
				c.walk(ctx, sn, *n.Subtree, p)
			}
		case repo.NodeFile:
			for _, b := range n.Content {
				loc, found := c.index.Lookup(b)
				if !found {
					c.problem(Problem{Snapshot: snapLabel(sn), File: p, Detail: fmt.Sprintf("chunk %s is missing from the index", b.Short())})
					continue
				}
				c.used[loc.Pack] = true
				if refs := c.refs[b]; len(refs) < maxRefs && !slices.Contains(refs, blobRef{snapLabel(sn), p}) {
					c.refs[b] = append(refs, blobRef{snapLabel(sn), p})
				}
				c.rep.Chunks++
			}
		}
	}
}

// loadTree reads a tree through the checker's own index.
func (c *checker) loadTree(ctx context.Context, loc repo.Location) (*repo.Tree, error) {
	if _, ok := c.e.repo.Index.Lookup(loc.ID); !ok {
		c.e.repo.Index.Add(repo.PackEntry{ID: loc.Pack, Size: c.stored[loc.Pack], Blobs: []pack.Blob{loc.Blob}})
	}
	return c.e.repo.LoadTree(ctx, loc.ID)
}

// deep reads every pack the checked snapshots use and checks every blob.
// Packs are streamed blob by blob (two at a time), so memory stays at a
// few blobs whatever the pack size.
func (c *checker) deep(ctx context.Context, p ProgressFunc) error {
	var packs []repo.ID
	for id := range c.used {
		if _, ok := c.stored[id]; ok {
			packs = append(packs, id)
		}
	}
	slices.SortFunc(packs, func(a, b repo.ID) int { return slices.Compare(a[:], b[:]) })
	var total int64
	for _, id := range packs {
		total += c.stored[id]
	}
	// The index's view of each pack, to compare with its header.
	expected := map[repo.ID][]pack.Blob{}
	c.index.Each(func(l repo.Location) {
		if c.used[l.Pack] {
			expected[l.Pack] = append(expected[l.Pack], l.Blob)
		}
	})
	var done, bytes int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	for _, id := range packs {
		g.Go(func() error {
			if err := c.checkPack(gctx, id, c.stored[id], expected[id]); err != nil {
				if gctx.Err() != nil {
					return gctx.Err()
				}
				c.problem(Problem{Pack: id.String(), Detail: fmt.Sprintf("pack is unreadable: %v", err)})
			}
			c.mu.Lock()
			done++
			bytes += c.stored[id]
			c.rep.BytesVerified += c.stored[id]
			if p != nil {
				p(Progress{Phase: PhaseVerify, Files: done, FilesTotal: int64(len(packs)), Bytes: bytes, BytesTotal: total})
			}
			c.mu.Unlock()
			return nil
		})
	}
	return g.Wait()
}

// checkPack streams one pack: every indexed blob is decrypted,
// decompressed and hashed, the pack's bytes are hashed against its name,
// and its header is compared with the index. Damaged blobs are reported
// for every file that uses them.
func (c *checker) checkPack(ctx context.Context, id repo.ID, size int64, blobs []pack.Blob) error {
	r := c.e.repo
	rc, err := c.e.be.Get(ctx, repo.PackKey(id), 0, -1)
	if err != nil {
		return err
	}
	defer rc.Close()
	h := sha256.New()
	in := bufio.NewReaderSize(io.TeeReader(rc, h), 256<<10)
	slices.SortFunc(blobs, func(a, b pack.Blob) int { return int(a.Offset) - int(b.Offset) })
	var pos int64
	var sealed, plain []byte
	damaged := 0
	for _, b := range blobs {
		if int64(b.Offset) < pos || int64(b.Offset)+int64(b.Length) > size {
			c.problem(Problem{Pack: id.String(), Detail: fmt.Sprintf("the index places blob %s outside the pack or over another blob", b.ID.Short())})
			continue
		}
		if _, err := io.CopyN(io.Discard, in, int64(b.Offset)-pos); err != nil {
			return err
		}
		if cap(sealed) < int(b.Length) {
			sealed = make([]byte, b.Length)
		}
		sealed = sealed[:b.Length]
		if _, err := io.ReadFull(in, sealed); err != nil {
			return err
		}
		pos = int64(b.Offset) + int64(b.Length)
		if plain, err = r.OpenBlob(b, sealed, plain); err != nil {
			damaged++
			c.reportBlob(id, b, err)
		}
		c.mu.Lock()
		c.rep.Chunks++
		c.mu.Unlock()
	}
	tail, err := io.ReadAll(in)
	if err != nil {
		return err
	}
	var hash repo.ID
	h.Sum(hash[:0])
	if pos+int64(len(tail)) != size {
		c.problem(Problem{Pack: id.String(), Detail: fmt.Sprintf("pack has %d bytes, expected %d", pos+int64(len(tail)), size)})
	}
	var herr error
	var header []pack.Blob
	if hash != id {
		herr = fmt.Errorf("pack content does not match its name")
	}
	if n, err := pack.HeaderLength(tail, size); err != nil {
		herr = err
	} else if int64(n)+4 > int64(len(tail)) {
		herr = fmt.Errorf("pack header lies among the blobs")
	} else if header, err = pack.ParseHeader(r.Sealer(), tail[len(tail)-4-n:len(tail)-4], size-4-int64(n)); err != nil {
		herr = err
	}
	if herr != nil {
		if damaged == 0 {
			c.problem(Problem{Pack: id.String(), Detail: fmt.Sprintf("%v (the indexed blobs are intact; the damage is in the pack's header: verify --fix cannot rebuild its entries, the index still holds them)", herr)})
		}
		return nil
	}
	inHeader := make(map[repo.ID]pack.Blob, len(header))
	for _, b := range header {
		inHeader[b.ID] = b
	}
	for _, b := range blobs {
		if hb, ok := inHeader[b.ID]; !ok || hb != b {
			c.problem(Problem{Pack: id.String(), Detail: fmt.Sprintf("the index and the pack header disagree about blob %s", b.ID.Short())})
		}
	}
	return nil
}

// reportBlob names every file (or the pack, for an unreferenced or tree
// blob) that a damaged blob affects.
func (c *checker) reportBlob(packID repo.ID, b pack.Blob, err error) {
	refs := c.refs[b.ID]
	if len(refs) == 0 {
		c.problem(Problem{Pack: packID.String(), Detail: fmt.Sprintf("%s blob %s is damaged: %v", b.Type, b.ID.Short(), err)})
		return
	}
	for _, ref := range refs {
		c.problem(Problem{Snapshot: ref.snapshot, File: ref.file, Pack: packID.String(), Detail: fmt.Sprintf("chunk %s is damaged: %v", b.ID.Short(), err)})
	}
}

// rebuildIndex reads every pack's header and replaces all index files
// with one that lists exactly the packs present. Exclusive lock only.
func (c *checker) rebuildIndex(ctx context.Context) error {
	r := c.e.repo
	stored := map[repo.ID]int64{}
	if err := c.e.be.List(ctx, "data/", func(i backend.Info) error {
		if id, err := crypto.ParseID(path.Base(i.Key)); err == nil {
			stored[id] = i.Size
		}
		return nil
	}); err != nil {
		return err
	}
	old, err := r.IndexFiles(ctx)
	if err != nil {
		return err
	}
	var entries []repo.PackEntry
	for id, size := range stored {
		blobs, err := r.ReadPackHeader(ctx, id, size)
		if err != nil {
			c.problem(Problem{Pack: id.String(), Detail: fmt.Sprintf("pack header unreadable, its blobs cannot be indexed: %v", err)})
			continue
		}
		entries = append(entries, repo.PackEntry{ID: id, Size: size, Blobs: blobs})
	}
	newID, err := r.SaveIndex(ctx, entries)
	if err != nil {
		return err
	}
	for _, f := range old {
		if f == newID {
			continue
		}
		if err := r.DeleteIndexFile(ctx, f); err != nil && !errors.Is(err, backend.ErrNotFound) {
			return err
		}
	}
	c.rep.Fixed = append(c.rep.Fixed, fmt.Sprintf("rebuilt the index from %d packs (replacing %d index files)", len(entries), len(old)))
	return nil
}
