package restorer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sync/errgroup"

	"github.com/backupbot/backupbot/storage/repo"
)

// maxRun bounds one ranged read of a pack; runs of needed blobs closer
// than maxGap are read together.
const (
	maxRun = 4 << 20
	maxGap = 256 << 10
)

// pendingFile is a file being written: its temporary file is created when
// its first chunk arrives and renamed into place after its last.
type pendingFile struct {
	it        item
	mu        sync.Mutex
	tmp       string
	fd        int
	remaining atomic.Int32
	// failed is set when one of the file's chunks is damaged or missing:
	// the file is not written (its temporary file is removed).
	failed atomic.Bool
}

// target is one place a blob's plaintext goes.
type target struct {
	f   *pendingFile
	off int64
}

// packWork is what one pack contributes: its needed blobs by offset.
type packWork struct {
	id    repo.ID
	first int // order of first use, so files complete early
	blobs []repo.Location
}

// writeFiles writes every regular file pack by pack: each pack is read
// once (in runs of nearby needed blobs), and each blob is decrypted,
// checked and written at its offsets in every file that uses it. This is
// what makes a restore read the repository sequentially instead of one
// ranged read per chunk.
func (rs *restorer) writeFiles(ctx context.Context, files []item) error {
	targets := map[repo.ID][]target{}
	packs := map[repo.ID]*packWork{}
	var pending []*pendingFile
	for _, it := range files {
		f := &pendingFile{it: it, fd: -1}
		if len(it.node.Content) == 0 {
			if err := rs.finishEmpty(f); err != nil {
				return err
			}
			continue
		}
		if missing := rs.missingChunk(ctx, it); missing != "" {
			rs.lose(it.snapPath, missing)
			continue
		}
		f.remaining.Store(int32(len(it.node.Content)))
		pending = append(pending, f)
		var off int64
		for _, id := range it.node.Content {
			loc, _ := rs.r.Index.Lookup(id)
			if _, seen := targets[id]; !seen {
				addToPack(packs, loc)
			}
			targets[id] = append(targets[id], target{f: f, off: off})
			off += int64(loc.RawLength)
		}
		if off != it.node.Size {
			rs.warn("%s: its chunks hold %d bytes, the snapshot recorded %d", it.snapPath, off, it.node.Size)
		}
	}
	order := packOrder(packs)

	// Finishing a file (close, owner, mode, times, rename) is all system
	// calls; finishers do it while the pack workers go on decoding.
	fin, fctx := errgroup.WithContext(ctx)
	done := make(chan *pendingFile, 64)
	for range rs.opts.Workers {
		fin.Go(func() error {
			for f := range done {
				if err := rs.finish(f); err != nil {
					return err
				}
			}
			return nil
		})
	}
	g, gctx := errgroup.WithContext(fctx)
	g.SetLimit(rs.opts.Workers)
	for _, pw := range order {
		g.Go(func() error { return rs.restorePack(gctx, pw, targets, done) })
	}
	err := g.Wait()
	close(done)
	if ferr := fin.Wait(); err == nil {
		err = ferr
	}
	if err != nil {
		for _, f := range pending {
			f.abandon()
		}
	}
	return err
}

// restorePack reads the needed parts of one pack and writes its blobs.
func (rs *restorer) restorePack(ctx context.Context, pw *packWork, targets map[repo.ID][]target, done chan<- *pendingFile) error {
	use := func(loc repo.Location, plain []byte) error {
		for _, t := range targets[loc.ID] {
			last, err := rs.writeAt(t, plain)
			if err != nil {
				return err
			}
			if last {
				select {
				case done <- t.f:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		return nil
	}
	damaged := func(id repo.ID, err error) error {
		// The files that need this blob are lost; everything else goes on.
		for _, t := range targets[id] {
			rs.lose(t.f.it.snapPath, rs.lostReason(id, err))
			t.f.failed.Store(true)
			if t.f.remaining.Add(-1) == 0 {
				select {
				case done <- t.f:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		return nil
	}
	return rs.readPack(ctx, pw, use, damaged)
}

// missingChunk says why a file cannot be restored when one of its chunks
// is not in the index ("" when all are).
func (rs *restorer) missingChunk(ctx context.Context, it item) string {
	for _, id := range it.node.Content {
		if !rs.has(ctx, id) {
			return fmt.Sprintf("chunk %s is missing from the repository (its pack or index entry is gone; verify --fix names what is lost)", id.Short())
		}
	}
	return ""
}

// lostReason explains a blob that could not be read.
func (rs *restorer) lostReason(id repo.ID, err error) string {
	if errors.Is(err, repo.ErrDamaged) {
		rs.sawDamage.Store(true)
		return fmt.Sprintf("chunk %s is damaged: %v", id.Short(), err)
	}
	return fmt.Sprintf("chunk %s cannot be read: %v", id.Short(), err)
}

// readPack reads the needed blobs of one pack in runs of nearby blobs (at
// most maxRun bytes per ranged read), opens and checks each one and hands
// its plaintext to use; a blob that cannot be read or fails its checks
// goes to damaged instead, and the reading goes on.
func (rs *restorer) readPack(ctx context.Context, pw *packWork, use func(repo.Location, []byte) error, damaged func(repo.ID, error) error) error {
	var buf, plain []byte
	for i := 0; i < len(pw.blobs); {
		start := int64(pw.blobs[i].Offset)
		j := i + 1
		end := start + int64(pw.blobs[i].Length)
		for j < len(pw.blobs) {
			b := pw.blobs[j]
			next := int64(b.Offset) + int64(b.Length)
			if int64(b.Offset)-end > maxGap || next-start > maxRun {
				break
			}
			end = max(end, next)
			j++
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if cap(buf) < int(end-start) {
			buf = make([]byte, end-start)
		}
		buf = buf[:end-start]
		if err := rs.readRange(ctx, pw.id, start, buf); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if j > i+1 {
				// A truncated pack fails the whole run: read the blobs
				// one by one so those before the cut still restore.
				j = i + 1
				end = start + int64(pw.blobs[i].Length)
				buf = buf[:end-start]
				err = rs.readRange(ctx, pw.id, start, buf)
			}
			if err != nil {
				if derr := damaged(pw.blobs[i].ID, err); derr != nil {
					return derr
				}
				i = j
				continue
			}
		}
		for _, loc := range pw.blobs[i:j] {
			off := int64(loc.Offset) - start
			sealed := buf[off : off+int64(loc.Length) : off+int64(loc.Length)]
			var err error
			if plain, err = rs.r.OpenBlob(loc.Blob, sealed, plain); err != nil {
				if derr := damaged(loc.ID, err); derr != nil {
					return derr
				}
				continue
			}
			if err := use(loc, plain); err != nil {
				return err
			}
		}
		i = j
	}
	return nil
}

// readRange reads buf from a pack at off.
func (rs *restorer) readRange(ctx context.Context, id repo.ID, off int64, buf []byte) error {
	rc, err := rs.r.Backend().Get(ctx, repo.PackKey(id), off, int64(len(buf)))
	if err != nil {
		return fmt.Errorf("reading pack %s: %w", id.Short(), err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, buf); err != nil {
		return fmt.Errorf("reading pack %s: %w", id.Short(), err)
	}
	return nil
}

// validate reads and checks every blob the restore needs, pack by pack as
// a restore reads them, before anything is written.
func (rs *restorer) validate(ctx context.Context) error {
	users := map[repo.ID][]string{}
	packs := map[repo.ID]*packWork{}
	for _, it := range rs.items {
		if it.node.Type != repo.NodeFile {
			continue
		}
		if missing := rs.missingChunk(ctx, it); missing != "" {
			rs.lose(it.snapPath, missing)
			continue
		}
		for _, id := range it.node.Content {
			if _, seen := users[id]; !seen {
				loc, _ := rs.r.Index.Lookup(id)
				addToPack(packs, loc)
			}
			if u := users[id]; len(u) == 0 || u[len(u)-1] != it.snapPath {
				users[id] = append(u, it.snapPath)
			}
		}
	}
	use := func(repo.Location, []byte) error { return nil }
	damaged := func(id repo.ID, err error) error {
		for _, p := range users[id] {
			rs.lose(p, rs.lostReason(id, err))
		}
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(rs.opts.Workers)
	for _, pw := range packOrder(packs) {
		g.Go(func() error { return rs.readPack(gctx, pw, use, damaged) })
	}
	return g.Wait()
}

// addToPack records that a blob is needed from its pack.
func addToPack(packs map[repo.ID]*packWork, loc repo.Location) {
	pw := packs[loc.Pack]
	if pw == nil {
		pw = &packWork{id: loc.Pack, first: len(packs)}
		packs[loc.Pack] = pw
	}
	pw.blobs = append(pw.blobs, loc)
}

// packOrder sorts each pack's blobs by offset and the packs by first use.
func packOrder(packs map[repo.ID]*packWork) []*packWork {
	order := make([]*packWork, 0, len(packs))
	for _, pw := range packs {
		slices.SortFunc(pw.blobs, func(a, b repo.Location) int { return cmp.Compare(a.Offset, b.Offset) })
		order = append(order, pw)
	}
	slices.SortFunc(order, func(a, b *packWork) int { return a.first - b.first })
	return order
}

// writeAt writes one blob into a file and reports whether it was the
// file's last.
func (rs *restorer) writeAt(t target, data []byte) (bool, error) {
	f := t.f
	if f.failed.Load() {
		return f.remaining.Add(-1) == 0, nil
	}
	if err := f.open(); err != nil {
		return false, err
	}
	if f.it.node.Sparse {
		if err := pwriteSparse(f.fd, data, t.off); err != nil {
			return false, fmt.Errorf("restoring %s: %w", f.it.dest, err)
		}
	} else {
		for n := 0; n < len(data); {
			w, err := syscall.Pwrite(f.fd, data[n:], t.off+int64(n))
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				return false, fmt.Errorf("restoring %s: %w", f.it.dest, err)
			}
			n += w
		}
	}
	rs.bytes.Add(int64(len(data)))
	return f.remaining.Add(-1) == 0, nil
}

// open creates the file's temporary file once.
func (f *pendingFile) open() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fd >= 0 {
		return nil
	}
	f.tmp = tempName(f.it.dest)
	fd, err := syscall.Open(f.tmp, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("restoring %s: %w", f.it.dest, err)
	}
	f.fd = fd
	return nil
}

// finish closes the temporary file, sets its metadata and renames it.
func (rs *restorer) finish(f *pendingFile) error {
	if f.failed.Load() {
		f.abandon()
		return nil
	}
	f.mu.Lock()
	fd := f.fd
	f.fd = -1
	f.mu.Unlock()
	if err := finishSparse(fd, f.it.node); err != nil {
		_ = syscall.Close(fd)
		return fmt.Errorf("restoring %s: %w", f.it.dest, err)
	}
	if err := syscall.Close(fd); err != nil {
		return fmt.Errorf("restoring %s: %w", f.it.dest, err)
	}
	rs.meta(f.tmp, f.it.node, false)
	if err := rs.replace(f.tmp, f.it.dest); err != nil {
		return err
	}
	p := f.it.dest
	rs.current.Store(&p)
	rs.files.Add(1)
	return nil
}

// finishEmpty writes a file without content.
func (rs *restorer) finishEmpty(f *pendingFile) error {
	if err := f.open(); err != nil {
		return err
	}
	return rs.finish(f)
}

// abandon removes an unfinished temporary file after an error.
func (f *pendingFile) abandon() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fd >= 0 {
		_ = syscall.Close(f.fd)
		f.fd = -1
		if err := syscall.Unlink(f.tmp); err != nil && !errors.Is(err, syscall.ENOENT) {
			return
		}
	}
}
