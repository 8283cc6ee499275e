package engine

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/backupbot/backupbot/storage/archiver"
	"github.com/backupbot/backupbot/storage/backend"
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

	indexFiles []repo.ID         // readable index files
	badFiles   []repo.Unreadable // unreadable index, snapshot and damage files
	unindexed  map[repo.ID]bool  // stored packs no readable index file lists
	badBlobs   map[repo.ID]repo.ID
	badPacks   map[repo.ID]string // packs whose bytes are damaged (not just some blobs)
	snaps      []*repo.Snapshot
	// needUnindexed names, by snapshot label, that it needs packs only
	// their headers list.
	needUnindexed map[string]bool
	readErrs      int // packs that could not be read at all (storage errors)
	// marked holds, by snapshot, the paths verify --fix marked lost.
	marked map[repo.ID][]repo.LostFile
	// recorded holds the packs with blobs an earlier verify recorded as
	// damaged: their hash mismatch is that damage, already reported.
	recorded map[repo.ID]bool
	// raw holds every pack's blobs as its index file (or header) lists
	// them, duplicates included: a blob stored twice keeps its good copy.
	raw map[repo.ID][]pack.Blob
}

// fileProblem reports a problem with a snapshot's file, saying so when
// verify --fix has already marked it lost for good.
func (c *checker) fileProblem(sn *repo.Snapshot, p Problem) {
	for _, l := range c.marked[sn.ID] {
		if strings.TrimSuffix(l.Path, "/") == p.File || (strings.HasSuffix(l.Path, "/") && strings.HasPrefix(p.File, l.Path)) {
			p.Detail = "lost for good (marked damaged by verify --fix): " + p.Detail
			break
		}
	}
	c.problem(p)
}

// bad records that the copy of blob id in pack packID is damaged or gone.
func (c *checker) bad(id, packID repo.ID) {
	c.mu.Lock()
	c.badBlobs[id] = packID
	c.mu.Unlock()
}

func (c *checker) badPack(id repo.ID, why string) {
	c.mu.Lock()
	if _, ok := c.badPacks[id]; !ok {
		c.badPacks[id] = why
	}
	c.mu.Unlock()
}

func (c *checker) problem(p Problem) {
	c.mu.Lock()
	c.rep.Problems = append(c.rep.Problems, p)
	c.mu.Unlock()
}

// Verify checks the repository's structure (index, packs present with the
// right sizes, snapshots and trees readable, every chunk indexed) for the
// chosen snapshots, and with Deep reads, decrypts and hashes every chunk
// they need, naming each damaged file. Damage in one file never stops the
// check of the rest. The damaged or missing blobs found are recorded
// (damage/ in FORMAT.md) so that no backup deduplicates onto them.
//
// Fix (which implies All and Deep) repairs what can be repaired: it moves
// unreadable snapshot and index files to quarantine/, copies the intact
// blobs of damaged packs into new packs and moves the damaged packs to
// quarantine/, re-reads the sources for every lost chunk or directory
// listing they still hold, rebuilds the index from what is left, marks the
// snapshots whose data is truly gone as damaged with the exact files lost,
// and breaks stale locks. What it could not repair stays in Problems.
func (e *Engine) Verify(ctx context.Context, req VerifyRequest, p ProgressFunc) (*VerifyReport, error) {
	if req.Fix {
		req.All, req.Deep = true, true
	}
	lock, err := e.repo.Lock(ctx, req.Fix, "verify")
	if err != nil {
		return nil, err
	}
	defer e.unlock(ctx, lock)
	c := &checker{e: e, rep: &VerifyReport{}, index: repo.NewIndex(), stored: map[repo.ID]int64{},
		refs: map[repo.ID][]blobRef{}, trees: map[repo.ID]*repo.Tree{}, used: map[repo.ID]bool{},
		unindexed: map[repo.ID]bool{}, badBlobs: map[repo.ID]repo.ID{}, badPacks: map[repo.ID]string{},
		needUnindexed: map[string]bool{}, recorded: map[repo.ID]bool{}, raw: map[repo.ID][]pack.Blob{}}
	if err := c.locks(ctx, req.Fix); err != nil {
		return nil, err
	}
	if err := c.structure(ctx, req.Fix); err != nil {
		return nil, err
	}
	snaps, err := c.snapshots(ctx, req)
	if err != nil {
		return nil, err
	}
	c.snaps = snaps
	for _, sn := range snaps {
		c.walk(ctx, sn, sn.Tree, "/")
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	for label := range c.needUnindexed {
		c.problem(Problem{Snapshot: label, Detail: "it needs packs that no readable index file lists (the index is damaged or lost; verify --fix rebuilds it from the pack headers)"})
	}
	if req.Fix {
		// Check every pack, not only those the snapshots use: the rebuilt
		// index must not list a damaged blob anywhere.
		for id := range c.index.Packs() {
			c.used[id] = true
		}
	}
	if req.Deep {
		if err := c.deep(ctx, p); err != nil {
			return nil, err
		}
	}
	if req.Fix {
		if err := c.fix(ctx); err != nil {
			return c.rep, err
		}
		return c.rep, nil
	}
	if err := c.record(ctx); err != nil {
		return nil, err
	}
	if !c.rep.OK() {
		c.rep.Problems = append(c.rep.Problems, Problem{Detail: "run verify --fix: it repairs what the sources still hold and marks what is lost"})
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

// structure loads every index file and compares it with the packs
// stored; packs no readable index file lists are indexed from their own
// headers.
func (c *checker) structure(ctx context.Context, fix bool) error {
	r := c.e.repo
	stored, err := r.StoredPacks(ctx)
	if err != nil {
		return err
	}
	c.stored = stored
	recs, badRecs, err := r.DamageRecords(ctx)
	if err != nil {
		return err
	}
	c.badFiles = append(c.badFiles, badRecs...)
	c.marked = repo.SnapshotLosses(recs)
	for _, rec := range recs {
		if fix {
			break // a repair checks every blob afresh
		}
		for _, b := range rec.Blobs {
			c.index.Exclude(b.ID, b.Pack)
			c.recorded[b.Pack] = true
		}
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
			c.badFiles = append(c.badFiles, repo.Unreadable{Key: repo.IndexKey(f), Err: err})
			c.problem(Problem{Detail: fmt.Sprintf("index file %s is unreadable: %v (verify --fix moves it to quarantine and rebuilds the index)", f.Short(), err)})
			continue
		}
		c.indexFiles = append(c.indexFiles, f)
		for _, pk := range packs {
			c.index.Add(pk)
			c.raw[pk.ID] = append(c.raw[pk.ID], pk.Blobs...)
		}
	}
	indexed := c.index.Packs()
	for id, size := range indexed {
		got, ok := c.stored[id]
		switch {
		case !ok:
			c.problem(Problem{Pack: id.String(), Detail: "pack listed in the index is missing from the storage"})
		case got != size:
			c.problem(Problem{Pack: id.String(), Detail: fmt.Sprintf("pack has %d bytes, the index expects %d", got, size)})
			c.badPack(id, fmt.Sprintf("it has %d bytes, the index expects %d", got, size))
		}
	}
	// Blobs in missing packs, or beyond the end of a truncated one, are
	// gone whatever else is found.
	c.index.Each(func(l repo.Location) {
		got, ok := c.stored[l.Pack]
		if !ok || int64(l.Offset)+int64(l.Length) > got {
			c.bad(l.ID, l.Pack)
		}
	})
	for id, size := range c.stored {
		if _, ok := indexed[id]; ok {
			continue
		}
		blobs, err := r.ReadPackHeader(ctx, id, size)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			c.rep.Unreferenced++ // left by an interrupted backup, or damaged: nothing indexes it
			continue
		}
		c.unindexed[id] = true
		c.index.Add(repo.PackEntry{ID: id, Size: size, Blobs: blobs})
		c.raw[id] = blobs
	}
	c.rep.Packs = len(c.index.Packs())
	return nil
}

func (c *checker) snapshots(ctx context.Context, req VerifyRequest) ([]*repo.Snapshot, error) {
	r := c.e.repo
	all, bad, err := r.LoadSnapshots(ctx)
	if err != nil {
		return nil, err
	}
	for _, u := range bad {
		c.badFiles = append(c.badFiles, u)
		c.problem(Problem{Snapshot: path.Base(u.Key)[:8], Detail: fmt.Sprintf("snapshot file is unreadable, the whole snapshot is lost: %v (verify --fix moves it to quarantine)", u.Err)})
	}
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
		loc, found := c.use(sn, id, dir, "directory listing")
		if !found {
			return
		}
		if _, ok := c.stored[loc.Pack]; !ok {
			c.fileProblem(sn, Problem{Snapshot: snapLabel(sn), File: dir, Pack: loc.Pack.String(), Detail: "directory listing is lost: its pack is missing, so nothing below it can be restored"})
			return
		}
		var err error
		t, err = c.loadTree(ctx, loc)
		if err != nil {
			c.fileProblem(sn, Problem{Snapshot: snapLabel(sn), File: dir, Pack: loc.Pack.String(), Detail: fmt.Sprintf("directory listing is unreadable, so nothing below it can be restored: %v", err)})
			c.bad(id, loc.Pack)
			return
		}
		c.trees[id] = t
		for _, p := range t.Parts { // a large directory's other tree blobs
			if l, ok := c.index.Lookup(p); ok {
				c.used[l.Pack] = true
			}
		}
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
				loc, found := c.use(sn, b, p, "chunk")
				if !found {
					continue
				}
				if size, ok := c.stored[loc.Pack]; !ok {
					c.fileProblem(sn, Problem{Snapshot: snapLabel(sn), File: p, Pack: loc.Pack.String(), Detail: fmt.Sprintf("chunk %s is lost: its pack is missing", b.Short())})
				} else if int64(loc.Offset)+int64(loc.Length) > size {
					c.fileProblem(sn, Problem{Snapshot: snapLabel(sn), File: p, Pack: loc.Pack.String(), Detail: fmt.Sprintf("chunk %s is lost: its pack is truncated", b.Short())})
				}
				if refs := c.refs[b]; len(refs) < maxRefs && !slices.Contains(refs, blobRef{snapLabel(sn), p}) {
					c.refs[b] = append(refs, blobRef{snapLabel(sn), p})
				}
				c.rep.Chunks++
			}
		}
	}
}

// use looks up a blob of snapshot sn's file (what says which kind) and
// marks its pack used; a blob missing from the index is a problem of the
// file.
func (c *checker) use(sn *repo.Snapshot, id repo.ID, file, what string) (repo.Location, bool) {
	loc, found := c.index.Lookup(id)
	if !found {
		c.fileProblem(sn, Problem{Snapshot: snapLabel(sn), File: file, Detail: fmt.Sprintf("%s %s is missing from the index", what, id.Short())})
		return loc, false
	}
	c.used[loc.Pack] = true
	if c.unindexed[loc.Pack] {
		c.needUnindexed[snapLabel(sn)] = true
	}
	return loc, true
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
				c.mu.Lock()
				c.readErrs++
				c.mu.Unlock()
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
		if int64(b.Offset) < pos {
			c.problem(Problem{Pack: id.String(), Detail: fmt.Sprintf("the index places blob %s outside the pack or over another blob", b.ID.Short())})
			continue
		}
		if int64(b.Offset)+int64(b.Length) > c.stored[id] {
			// Beyond the end of a truncated pack: structure marked it.
			damaged++
			c.reportBlob(id, b, fmt.Errorf("the pack ends before this blob (truncated)"))
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
			c.bad(b.ID, id)
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
	if damaged > 0 {
		c.badPack(id, fmt.Sprintf("%d of its blobs are damaged", damaged))
	}
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
		c.badPack(id, herr.Error())
		if damaged == 0 && !c.recorded[id] {
			c.problem(Problem{Pack: id.String(), Detail: fmt.Sprintf("%v (the indexed blobs are intact; the damage is in the pack's header or outside its blobs: verify --fix copies the blobs into a new pack)", herr)})
		}
		return nil
	}
	inHeader := make(map[repo.ID]pack.Blob, len(header))
	for _, b := range header {
		inHeader[b.ID] = b
	}
	for _, b := range blobs {
		if hb, ok := inHeader[b.ID]; !ok || hb != b {
			c.badPack(id, "its header and the index disagree")
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

// record writes what this check found damaged or gone (the bad copies of
// blobs) as a damage record, so that no backup deduplicates onto them and
// every later reader treats them as missing.
func (c *checker) record(ctx context.Context) error {
	if len(c.badBlobs) == 0 {
		return nil
	}
	rec := &repo.DamageRecord{Time: time.Now().UTC()}
	for id, packID := range c.badBlobs {
		rec.Blobs = append(rec.Blobs, repo.BadBlob{ID: id, Pack: packID})
	}
	slices.SortFunc(rec.Blobs, func(a, b repo.BadBlob) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	if err := c.e.repo.SaveDamage(ctx, rec); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// A read-only check still reports everything it found.
		c.rep.Notes = append(c.rep.Notes, fmt.Sprintf("could not record the %d damaged blobs (%v): until a verify records them or verify --fix runs, backups may deduplicate onto them", len(rec.Blobs), err))
		return nil
	}
	for _, b := range rec.Blobs {
		c.e.repo.Index.Exclude(b.ID, b.Pack)
	}
	c.rep.Notes = append(c.rep.Notes, fmt.Sprintf("recorded %d damaged or missing blobs in %s: no backup will deduplicate onto them, the next one stores them again if its source still has them",
		len(rec.Blobs), "damage/"+rec.ID.Short()))
	return nil
}

// fix repairs the repository from what the check found (exclusive lock).
func (c *checker) fix(ctx context.Context) error {
	e, r := c.e, c.e.repo
	if c.readErrs > 0 {
		c.problem(Problem{Detail: fmt.Sprintf("verify --fix changed nothing: %d packs could not be read at all (a storage error, not damage); run it again when the storage answers", c.readErrs)})
		return nil
	}
	found := len(c.rep.Problems)
	var fixed []string
	// 1. Unreadable snapshot, index and damage files go to quarantine.
	for _, u := range c.badFiles {
		dst, err := r.Quarantine(ctx, u.Key)
		if err != nil {
			return err
		}
		fixed = append(fixed, fmt.Sprintf("moved unreadable %s to %s", u.Key, dst))
	}
	// 2. The index from here on: every blob of an intact, stored pack,
	// except the damaged ones.
	byPack := map[repo.ID][]pack.Blob{}
	var salvage []repo.Location
	for packID, blobs := range c.raw {
		if _, ok := c.stored[packID]; !ok {
			continue
		}
		seen := map[repo.ID]bool{}
		for _, b := range blobs {
			if seen[b.ID] {
				continue
			}
			seen[b.ID] = true
			if badIn, bad := c.badBlobs[b.ID]; bad && badIn == packID {
				continue
			}
			if int64(b.Offset)+int64(b.Length) > c.stored[packID] {
				continue
			}
			if _, bad := c.badPacks[packID]; bad {
				salvage = append(salvage, repo.Location{Pack: packID, Blob: b})
				continue
			}
			byPack[packID] = append(byPack[packID], b)
		}
	}
	entries := make([]repo.PackEntry, 0, len(byPack))
	for id, blobs := range byPack {
		entries = append(entries, repo.PackEntry{ID: id, Size: c.stored[id], Blobs: blobs})
	}
	r.Index.Reset()
	for _, pe := range entries {
		r.Index.Add(pe)
	}
	r.ForgetTrees()
	saver := r.NewSaver(ctx, repo.SaverOptions{})
	// 3. The intact blobs of damaged packs move to new packs.
	salvaged := 0
	var buf, plain []byte
	for _, l := range salvage {
		if cap(buf) < int(l.Length) {
			buf = make([]byte, l.Length)
		}
		buf = buf[:l.Length]
		err := readAt(ctx, e, l.Pack, int64(l.Offset), buf)
		if err == nil {
			plain, err = r.OpenBlob(l.Blob, buf, plain)
		}
		if err != nil {
			if ctx.Err() != nil {
				saver.Abort()
				return ctx.Err()
			}
			c.bad(l.ID, l.Pack)
			continue
		}
		if saver.Reserve(l.ID) {
			if _, err := saver.Save(l.Type, l.ID, plain, true); err != nil {
				saver.Abort()
				return fmt.Errorf("copying intact blobs out of damaged packs: %w", err)
			}
			salvaged++
		}
	}
	if salvaged > 0 {
		fixed = append(fixed, fmt.Sprintf("copied %d intact blobs out of %d damaged packs", salvaged, len(c.badPacks)))
	}
	// 4. What is still missing is re-read from the sources that hold it.
	healed, err := c.heal(ctx, saver)
	if err != nil {
		saver.Abort()
		return err
	}
	if healed != "" {
		fixed = append(fixed, healed)
	}
	if _, err := saver.Flush(ctx); err != nil {
		return fmt.Errorf("writing repaired data: %w", err)
	}
	// 5. The rebuilt index replaces every readable index file.
	newIDs, err := r.SaveIndex(ctx, entries)
	if err != nil {
		return err
	}
	for _, f := range c.indexFiles {
		if slices.Contains(newIDs, f) {
			continue
		}
		if err := r.DeleteIndexFile(ctx, f); err != nil && !errors.Is(err, backend.ErrNotFound) {
			return err
		}
	}
	fixed = append(fixed, fmt.Sprintf("rebuilt the index: %d packs (replacing %d index files)", len(entries), len(c.indexFiles)))
	// 6. Damaged packs go to quarantine: nothing reads them again.
	for id := range c.badPacks {
		if _, ok := c.stored[id]; !ok {
			continue
		}
		dst, err := r.Quarantine(ctx, repo.PackKey(id))
		if err != nil {
			return err
		}
		fixed = append(fixed, fmt.Sprintf("moved damaged pack %s to %s", id.Short(), dst))
	}
	r.Index.Reset()
	if err := r.LoadIndex(ctx); err != nil {
		return err
	}
	r.ForgetTrees()
	// 7. What is gone for good is marked on its snapshots.
	marks, remaining, err := c.mark(ctx)
	if err != nil {
		return err
	}
	fixed = append(fixed, marks...)
	c.rep.Problems = remaining
	c.rep.Fixed = append(c.rep.Fixed, fixed...)
	if found > 0 {
		c.rep.Notes = append(c.rep.Notes, fmt.Sprintf("found %d problems before repairing; %d remain", found, len(remaining)))
	}
	return nil
}

// heal re-reads, for every snapshot that needs blobs the repository no
// longer holds, the source paths still on this machine, comparing with
// the snapshot so that only files whose chunks are missing are read: every
// chunk (and directory listing) whose content is unchanged gets the same
// keyed ID and is stored again.
func (c *checker) heal(ctx context.Context, saver *repo.Saver) (string, error) {
	e := c.e
	var healedSnaps []string
	for _, sn := range c.snaps {
		if !c.needsHeal(sn.Tree, saver, map[repo.ID]bool{}) {
			continue
		}
		var paths []string
		for _, p := range sn.Paths {
			if _, err := os.Lstat(p); err == nil {
				paths = append(paths, p)
			}
		}
		if len(paths) == 0 {
			continue
		}
		_, st, err := archiver.Run(ctx, e.repo, saver, archiver.Options{
			Paths: paths, Excludes: sn.Excludes, SkipPaths: e.localDirs(), Parent: sn.Tree, Compress: true, Logger: e.log,
		})
		if err != nil {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			c.rep.Notes = append(c.rep.Notes, fmt.Sprintf("could not re-read the sources of %s: %v", snapLabel(sn), err))
			continue
		}
		healedSnaps = append(healedSnaps, fmt.Sprintf("%s (%d files re-read)", snapLabel(sn), st.FilesNew+st.FilesChanged))
	}
	if len(healedSnaps) == 0 {
		return "", nil
	}
	return "re-read the sources of " + strings.Join(healedSnaps, ", ") + " and stored the lost data they still hold", nil
}

// needsHeal reports whether a tree (by the trees the check read) needs a
// blob that is neither indexed nor being saved.
func (c *checker) needsHeal(id repo.ID, saver *repo.Saver, seen map[repo.ID]bool) bool {
	if seen[id] {
		return false
	}
	seen[id] = true
	t, ok := c.trees[id]
	if !ok || !saver.Known(id) {
		return true
	}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		for _, b := range n.Content {
			if !saver.Known(b) {
				return true
			}
		}
		if n.Subtree != nil && c.needsHeal(*n.Subtree, saver, seen) {
			return true
		}
	}
	return false
}

// mark writes one damage record naming, per snapshot, the files whose
// data is gone for good, and removes the older records. It returns what
// it did and the problems that remain.
func (c *checker) mark(ctx context.Context) ([]string, []Problem, error) {
	e, r := c.e, c.e.repo
	old, _, err := r.DamageRecords(ctx)
	if err != nil {
		return nil, nil, err
	}
	rc, err := e.newReach(ctx)
	if err != nil {
		return nil, nil, err
	}
	rec := &repo.DamageRecord{Time: time.Now().UTC()}
	var done []string
	var remaining []Problem
	for _, sn := range c.snaps {
		lost := rc.lostIn(ctx, sn.Tree)
		if len(lost) == 0 {
			continue
		}
		rec.Snapshots = append(rec.Snapshots, repo.SnapshotDamage{Snapshot: sn.ID, Lost: lost})
		done = append(done, fmt.Sprintf("marked %s damaged: %d files lost for good, the rest restores", snapLabel(sn), len(lost)))
		for _, l := range lost {
			remaining = append(remaining, Problem{Snapshot: snapLabel(sn), File: l.Path, Detail: "lost for good (marked damaged): " + l.Reason})
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if len(rec.Snapshots) > 0 {
		if err := r.SaveDamage(ctx, rec); err != nil {
			return nil, nil, fmt.Errorf("marking damaged snapshots: %w", err)
		}
	}
	for _, o := range old {
		if o.ID == rec.ID {
			continue
		}
		if err := r.DeleteDamage(ctx, o.ID); err != nil && !errors.Is(err, backend.ErrNotFound) {
			return nil, nil, err
		}
	}
	return done, remaining, nil
}

// readAt reads buf from a pack at off.
func readAt(ctx context.Context, e *Engine, packID repo.ID, off int64, buf []byte) error {
	rc, err := e.be.Get(ctx, repo.PackKey(packID), off, int64(len(buf)))
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.ReadFull(rc, buf)
	return err
}
