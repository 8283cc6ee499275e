package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/backupbot/backupbot/storage/repo"
	"github.com/backupbot/backupbot/storage/restorer"
)

// PhaseDrill is the check after a recovery drill's restore.
const PhaseDrill = "drill"

// DrillRequest says which snapshots a recovery drill restores and how much
// of each.
type DrillRequest struct {
	// Snapshot is a reference as for Find; with All it is ignored.
	Snapshot string
	// All drills the newest snapshot of every target.
	All bool
	// Sample is the percentage of each snapshot's files restored (chosen at
	// random); 0 or 100 restores the whole snapshot.
	Sample float64
	// Scratch is the directory the files are restored under (one
	// subdirectory per snapshot, removed after its check). Required.
	Scratch string
}

// DrillFailure is one file a drill could not restore intact.
type DrillFailure struct {
	File   string `json:"file"`
	Reason string `json:"reason"`
}

// DrillSnapshot is the drill of one snapshot.
type DrillSnapshot struct {
	Snapshot SnapshotInfo `json:"snapshot"`
	// FilesInSnapshot counts the snapshot's regular files; Files those
	// restored and checked against the stored hashes, Bytes their size.
	FilesInSnapshot int64 `json:"files_in_snapshot"`
	Files           int64 `json:"files"`
	Bytes           int64 `json:"bytes"`
	// SourceFiles were also compared byte for byte with the source (still
	// there with the recorded size and modification time); SourceSkipped
	// were not (changed, gone, or the backup was made on another host).
	SourceFiles   int64 `json:"source_files"`
	SourceSkipped int64 `json:"source_skipped"`
	// Restore is how long restoring took, Check how long the comparison.
	Restore time.Duration `json:"restore_ns"`
	Check   time.Duration `json:"check_ns"`
	// RTOSecondsPerGiB is the measured restore time per GiB restored.
	RTOSecondsPerGiB float64        `json:"rto_seconds_per_gib"`
	Failures         []DrillFailure `json:"failures,omitempty"`
}

// OK reports whether every file restored intact.
func (d *DrillSnapshot) OK() bool { return len(d.Failures) == 0 }

// DrillReport is Drill's result.
type DrillReport struct {
	Sample    float64         `json:"sample,omitempty"`
	Snapshots []DrillSnapshot `json:"snapshots"`
}

// OK reports whether every drilled snapshot restored intact.
func (r *DrillReport) OK() bool {
	for i := range r.Snapshots {
		if !r.Snapshots[i].OK() {
			return false
		}
	}
	return true
}

// gib is one GiB in bytes.
const gib = 1 << 30

// RTOPerGiB is seconds per GiB for d spent restoring n bytes (0 when
// nothing was restored).
func RTOPerGiB(d time.Duration, n int64) float64 {
	if n <= 0 {
		return 0
	}
	return d.Seconds() / (float64(n) / gib)
}

// Drill is a recovery drill: it restores a snapshot (or a random sample of
// its files) under req.Scratch through the same path a restore takes,
// reads every restored file back and checks it chunk by chunk against the
// hashes stored in the snapshot and, where the source file is still there
// unchanged (same size and modification time as recorded), byte for byte
// against the source. Files that cannot be restored or do not match are
// Failures, named by their snapshot path; the error is for a drill that
// could not run at all.
func (e *Engine) Drill(ctx context.Context, req DrillRequest, p ProgressFunc) (*DrillReport, error) {
	if req.Scratch == "" {
		return nil, errors.New("recovery drill: no scratch directory given")
	}
	lock, err := e.lockIndexed(ctx, "restore-test", "")
	if err != nil {
		return nil, err
	}
	defer e.unlock(ctx, lock)
	snaps, err := e.pickForDrill(ctx, req)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	rep := &DrillReport{Sample: req.Sample}
	for _, sn := range snaps {
		d, err := e.drill(ctx, sn, req, host, p)
		if err != nil {
			return rep, fmt.Errorf("recovery drill of snapshot %s (%s): %w", sn.Name, sn.ID.Short(), err)
		}
		rep.Snapshots = append(rep.Snapshots, *d)
	}
	return rep, nil
}

// pickForDrill returns the snapshots a drill request names: with All the
// newest of every target, else the one req.Snapshot resolves to.
func (e *Engine) pickForDrill(ctx context.Context, req DrillRequest) ([]*repo.Snapshot, error) {
	all, _, err := e.repo.LoadSnapshots(ctx)
	if err != nil {
		return nil, err
	}
	if !req.All {
		sn, err := resolve(all, req.Snapshot)
		if err != nil {
			return nil, err
		}
		return []*repo.Snapshot{sn}, nil
	}
	var snaps []*repo.Snapshot
	seen := map[string]bool{}
	for _, sn := range all { // newest first
		if !seen[sn.Target] {
			seen[sn.Target] = true
			snaps = append(snaps, sn)
		}
	}
	if len(snaps) == 0 {
		return nil, fmt.Errorf("the repository has no snapshots to drill: %w", ErrSnapshotNotFound)
	}
	return snaps, nil
}

// drillFile is one regular file of a snapshot.
type drillFile struct {
	path string
	node *repo.Node
}

// files lists a tree's regular files; a listing that cannot be read is a
// failure (nothing below it restores).
func (e *Engine) files(ctx context.Context, id repo.ID, dir string, out *[]drillFile, fail func(string, string)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t, err := e.repo.LoadTree(ctx, id)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fail(strings.TrimSuffix(dir, "/")+"/", fmt.Sprintf("the directory's listing cannot be read: %v", err))
		return nil
	}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		p := path.Join(dir, n.FileName())
		switch {
		case n.Type == repo.NodeDir && n.Subtree != nil:
			if err := e.files(ctx, *n.Subtree, p, out, fail); err != nil {
				return err
			}
		case n.Type == repo.NodeFile:
			*out = append(*out, drillFile{p, n})
		}
	}
	return nil
}

func (e *Engine) drill(ctx context.Context, sn *repo.Snapshot, req DrillRequest, host string, p ProgressFunc) (*DrillSnapshot, error) {
	d := &DrillSnapshot{Snapshot: infoOf(sn)}
	failed := map[string]bool{}
	fail := func(file, why string) {
		if !failed[file] {
			failed[file] = true
			d.Failures = append(d.Failures, DrillFailure{File: file, Reason: why})
		}
	}
	var files []drillFile
	if err := e.files(ctx, sn.Tree, "/", &files, fail); err != nil {
		return nil, err
	}
	d.FilesInSnapshot = int64(len(files))
	if req.Sample > 0 && req.Sample < 100 && len(files) > 0 {
		n := min(len(files), max(1, int(math.Ceil(float64(len(files))*req.Sample/100))))
		rand.Shuffle(len(files), func(i, j int) { files[i], files[j] = files[j], files[i] })
		files = files[:n]
		sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	}
	chosen := make(map[string]bool, len(files))
	for _, f := range files {
		chosen[f.path] = true
	}

	dest := filepath.Join(req.Scratch, sn.ID.Short())
	defer os.RemoveAll(dest)
	opts := restorer.Options{Dest: dest, Sources: sn.Paths, Logger: e.log, RecoverIndex: e.recoverIndex,
		Select: func(p string) bool { return chosen[p] }, Progress: p.phase(PhaseRestore)}
	start := time.Now()
	res, err := restorer.Run(ctx, e.repo, sn.Tree, opts)
	d.Restore = time.Since(start)
	if res == nil {
		return nil, err
	}
	if err != nil && !errors.Is(err, restorer.ErrFilesLost) {
		return nil, err
	}
	for _, l := range res.Lost {
		fail(l.Path, "not restored: "+l.Reason)
	}

	start = time.Now()
	sameHost := sn.Host == host
	for i, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if failed[f.path] {
			continue
		}
		if p != nil {
			p(Progress{Phase: PhaseDrill, Files: int64(i), FilesTotal: int64(len(files)), Bytes: d.Bytes, Path: f.path})
		}
		restored := filepath.Join(dest, filepath.FromSlash(f.path))
		if err := e.checkRestored(ctx, restored, f.node); err != nil {
			fail(f.path, err.Error())
			continue
		}
		d.Files++
		d.Bytes += f.node.Size
		if !sameHost {
			d.SourceSkipped++
			continue
		}
		fi, err := os.Lstat(f.path)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() != f.node.Size || !fi.ModTime().Equal(f.node.ModTime) {
			d.SourceSkipped++
			continue
		}
		same, err := sameContent(restored, f.path)
		if err != nil {
			d.SourceSkipped++ // unreadable now: nothing to compare with
			continue
		}
		if !same {
			fail(f.path, "the restored file differs from the source, whose size and modification time are as backed up")
			continue
		}
		d.SourceFiles++
	}
	d.Check = time.Since(start)
	d.RTOSecondsPerGiB = RTOPerGiB(d.Restore, d.Bytes)
	sort.Slice(d.Failures, func(i, j int) bool { return d.Failures[i].File < d.Failures[j].File })
	return d, nil
}

// checkRestored reads a restored file back and checks each chunk against
// the hash the snapshot stores for it.
func (e *Engine) checkRestored(ctx context.Context, file string, n *repo.Node) error {
	f, err := os.Open(file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return errors.New("missing after the restore")
		}
		return fmt.Errorf("reading it back: %w", err)
	}
	defer f.Close()
	h := e.repo.NewHasher()
	var buf []byte
	var off int64
	for i, id := range n.Content {
		if err := ctx.Err(); err != nil {
			return err
		}
		loc, ok := e.repo.Index.Lookup(id)
		if !ok {
			return fmt.Errorf("chunk %d (%s) is not in the index", i, id.Short())
		}
		size := int(loc.Blob.RawLength)
		if cap(buf) < size {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if _, err := io.ReadFull(f, buf); err != nil {
			return fmt.Errorf("restored file is shorter than its %d bytes (at byte %d): %w", n.Size, off, err)
		}
		if h.Sum(buf) != id {
			return fmt.Errorf("bytes %d-%d do not match the stored hash of chunk %s", off, off+int64(size), id.Short())
		}
		off += int64(size)
	}
	if m, _ := f.Read(make([]byte, 1)); m > 0 {
		return fmt.Errorf("restored file is longer than its stored %d bytes", off)
	}
	return nil
}

// sameContent compares two files byte for byte.
func sameContent(a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if ea == io.EOF || ea == io.ErrUnexpectedEOF {
			return eb == io.EOF || eb == io.ErrUnexpectedEOF, nil
		}
		if ea != nil {
			return false, ea
		}
		if eb != nil {
			return false, eb
		}
	}
}

// RepositorySize is the repository's size in bytes as its index tells it:
// the sum of its packs' sizes (the small index, snapshot and key files are
// not counted). It reads only index files not read yet, never lists the
// packs.
func (e *Engine) RepositorySize(ctx context.Context) (int64, error) {
	if err := e.repo.LoadIndex(ctx); err != nil {
		return 0, err
	}
	var n int64
	for _, s := range e.repo.Index.Packs() {
		n += s
	}
	return n, nil
}
