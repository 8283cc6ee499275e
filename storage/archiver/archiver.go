// Package archiver turns directories on disk into trees and data blobs in
// a repository. It walks the source paths in order while a pool of workers
// reads, chunks, hashes, compresses and seals file contents, and a tree
// builder assembles directory listings as soon as their entries are done.
// Files unchanged since the parent snapshot (same size, mtime, ctime and
// inode) reuse the parent's chunk list without being read.
package archiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/backupbot/backupbot/internal/quote"
	"github.com/backupbot/backupbot/storage/chunker"
	"github.com/backupbot/backupbot/storage/crypto"
	"github.com/backupbot/backupbot/storage/pack"
	"github.com/backupbot/backupbot/storage/progress"
	"github.com/backupbot/backupbot/storage/repo"
)

// Options say what to back up and how.
type Options struct {
	// Paths are the absolute sources; each is stored under its full path.
	Paths []string
	// Excludes are globs matched against base names and full paths.
	Excludes []string
	// SkipPaths are never entered (the repository itself, when it lies
	// inside a source).
	SkipPaths []string
	// Parent is the root tree of the snapshot to compare with (zero: none).
	Parent repo.ID
	// ParentFiles and ParentBytes are the parent snapshot's totals: with
	// a parent, the progress totals start from them, and the sources are
	// counted (a second walk of every directory) only once the backup
	// has files to read, so a backup of an unchanged tree walks it once.
	ParentFiles, ParentBytes int64
	// ReadAll re-reads every file (a full backup) instead of trusting
	// unchanged metadata.
	ReadAll  bool
	Compress bool
	// Workers reading files; 0 means GOMAXPROCS.
	Workers int
	// Progress receives counters every ProgressEvery (and at the end).
	Progress      func(Progress)
	ProgressEvery time.Duration
	Logger        *slog.Logger
}

// Progress is a snapshot of the archiver's counters.
type Progress = progress.Report

// Stats summarise a run.
type Stats struct {
	FilesNew, FilesChanged, FilesUnchanged int64
	Files, Dirs                            int64
	// Size is the logical size of every file in the snapshot.
	Size int64
	// BytesRead is what was read from disk.
	BytesRead int64
	// BytesNew is the plaintext size of the new data blobs.
	BytesNew int64
	Warnings []string
	// Skipped names what could not be read (at most repo.MaxSkipped;
	// SkippedCount counts all): the snapshot lacks it, so it is partial.
	Skipped      []repo.SkippedPath
	SkippedCount int64
	// Time spent per phase, summed over the workers (they run in
	// parallel, so the sum may exceed the wall time): scanning for the
	// totals, reading files, and chunking and hashing what was read.
	// FilesRead and Chunks count the files read and the chunks cut.
	ScanTime, ReadTime, ChunkTime time.Duration
	FilesRead, Chunks             int64
}

const maxWarnings = 100

type archiver struct {
	r    *repo.Repository
	s    *repo.Saver
	opts Options
	log  *slog.Logger
	// parentXattrs is set when the parent snapshot's nodes record
	// extended attributes (format version 2 on): an entry whose ctime,
	// mtime, size and inode are unchanged takes them from there instead
	// of reading them again (setting or removing one changes the ctime).
	parentXattrs bool

	jobs  chan *fileJob
	dirs  chan *dirJob
	paths []string // the cleaned sources
	// openDirs counts the directories the walk holds open (see openDir).
	openDirs int

	files, dirsN, size, read, bytesNew  atomic.Int64
	filesNew, filesChanged, filesSame   atomic.Int64
	filesTotal, bytesTotal, filesPassed atomic.Int64
	bytesPassed                         atomic.Int64
	scanNanos, readNanos, chunkNanos    atomic.Int64
	filesRead, chunks                   atomic.Int64
	current                             atomic.Pointer[string]
	// scanOnce starts the count of the sources (scan) at most once;
	// scanned says it finished, walked that the walk did (the walk's own
	// counts are then exact).
	scanOnce        sync.Once
	scanWG          sync.WaitGroup
	scanned, walked atomic.Bool

	mu       sync.Mutex
	warnings []string
	skipped  []repo.SkippedPath
	skippedN int64
	fatal    error
	cancel   context.CancelFunc
}

type fileJob struct {
	path    string
	size    int64
	content []repo.ID
	read    int64
	err     error
	done    chan struct{}
}

type dirFuture struct {
	id   repo.ID
	err  error
	done chan struct{}
}

type pendingNode struct {
	node repo.Node
	file *fileJob
	dir  *dirFuture
	// isNew/changed decide the counters once the file is done.
	state fileState
}

type fileState uint8

const (
	stateNone fileState = iota
	stateNew
	stateChanged
)

type dirJob struct {
	path  string
	nodes []pendingNode
	fut   *dirFuture
	// prev is the directory's listing in the parent snapshot, if any.
	prev *prevDir
}

// prevDir is a directory's listing in the parent snapshot and its ID.
type prevDir struct {
	id   repo.ID
	tree *repo.Tree
}

// Run backs up opts.Paths through the saver and returns the root tree's
// ID. The caller flushes the saver and writes the snapshot.
func Run(ctx context.Context, r *repo.Repository, s *repo.Saver, opts Options) (repo.ID, Stats, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = 200 * time.Millisecond
	}
	paths, err := cleanPaths(opts.Paths)
	if err != nil {
		return repo.ID{}, Stats{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a := &archiver{
		r: r, s: s, opts: opts, log: opts.Logger, cancel: cancel, paths: paths,
		parentXattrs: r.Config().Version >= 2,
		jobs:         make(chan *fileJob, 2*opts.Workers),
		dirs:         make(chan *dirJob, 256),
	}

	var wg sync.WaitGroup
	for range opts.Workers {
		wg.Go(func() { a.worker(ctx) })
	}
	treesDone := make(chan struct{})
	go func() {
		defer close(treesDone)
		a.buildTrees(ctx)
	}()
	// With a parent, most files are usually unchanged and the walk itself
	// is quick: the count starts only when a file has to wait for the
	// readers (see entry).
	if opts.Parent.IsZero() || opts.ReadAll {
		a.startScan(ctx, paths)
	}
	stopProgress := progress.Every(opts.ProgressEvery, opts.Progress, a.report)

	root, err := a.walkRoot(ctx, paths)
	a.walked.Store(true)
	close(a.jobs)
	close(a.dirs)
	wg.Wait()
	<-treesDone
	var id repo.ID
	if err == nil {
		<-root.done
		id, err = root.id, root.err
	}
	cancel()
	a.scanWG.Wait()
	stopProgress()
	if f := a.fatalErr(); f != nil {
		err = f
	}
	st := Stats{
		FilesNew: a.filesNew.Load(), FilesChanged: a.filesChanged.Load(), FilesUnchanged: a.filesSame.Load(),
		Files: a.files.Load(), Dirs: a.dirsN.Load(), Size: a.size.Load(), BytesRead: a.read.Load(),
		BytesNew: a.bytesNew.Load(), Warnings: a.warnings, Skipped: a.skipped, SkippedCount: a.skippedN,
		ScanTime: time.Duration(a.scanNanos.Load()), ReadTime: time.Duration(a.readNanos.Load()),
		ChunkTime: time.Duration(a.chunkNanos.Load()), FilesRead: a.filesRead.Load(), Chunks: a.chunks.Load(),
	}
	return id, st, err
}

func cleanPaths(in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, errors.New("nothing to back up: the target has no paths")
	}
	var out []string
	for _, p := range in {
		if !filepath.IsAbs(p) {
			abs, err := filepath.Abs(p)
			if err != nil {
				return nil, err
			}
			p = abs
		}
		p = filepath.Clean(p)
		if _, err := os.Lstat(p); err != nil {
			return nil, fmt.Errorf("cannot back up %s: %w", p, err)
		}
		out = append(out, p)
	}
	sort.Strings(out)
	// Drop paths inside another path: the outer one covers them.
	kept := out[:0]
	for _, p := range out {
		if len(kept) > 0 && within(p, kept[len(kept)-1]) {
			continue
		}
		kept = append(kept, p)
	}
	return kept, nil
}

// within reports whether p is dir or lies inside it.
func within(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

func (a *archiver) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	a.log.Warn(msg)
	a.mu.Lock()
	if len(a.warnings) < maxWarnings {
		a.warnings = append(a.warnings, msg)
	}
	a.mu.Unlock()
}

// skip records that p could not be read: the snapshot will lack it.
func (a *archiver) skip(p string, err error) {
	why := reason(err)
	a.warn("skipped %s: %s", quote.Name(p), why)
	a.mu.Lock()
	a.skippedN++
	if len(a.skipped) < repo.MaxSkipped {
		a.skipped = append(a.skipped, repo.SkippedPath{Path: p, Error: why})
	}
	a.mu.Unlock()
}

// reason is an error without the path it names (printed separately and
// quoted): "open: permission denied".
func reason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

func (a *archiver) setFatal(err error) {
	a.mu.Lock()
	if a.fatal == nil {
		a.fatal = err
	}
	a.mu.Unlock()
	a.cancel()
}

func (a *archiver) fatalErr() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.fatal
}

// vdir is a directory on the way from / to a source path.
type vdir struct {
	abs      string
	children map[string]*vdir
	source   bool // a source path: backed up whole
}

func (a *archiver) walkRoot(ctx context.Context, paths []string) (*dirFuture, error) {
	root := &vdir{abs: "/", children: map[string]*vdir{}}
	for _, p := range paths {
		if p == "/" {
			root.source = true
			continue
		}
		v := root
		for _, name := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
			c := v.children[name]
			if c == nil {
				c = &vdir{abs: filepath.Join(v.abs, name), children: map[string]*vdir{}}
				v.children[name] = c
			}
			v = c
		}
		v.source = true
	}
	var parent *prevDir
	if !a.opts.Parent.IsZero() {
		t, err := a.r.LoadTree(ctx, a.opts.Parent)
		if err != nil {
			a.warn("the parent snapshot's tree cannot be read, reading every file: %v", err)
		} else {
			parent = &prevDir{id: a.opts.Parent, tree: t}
		}
	}
	if root.source {
		return a.walkDir(ctx, "/", parent)
	}
	return a.walkVirtual(ctx, root, parent)
}

// walkVirtual stores a directory on the way to source paths: its own
// metadata, and only the children that lead to sources.
func (a *archiver) walkVirtual(ctx context.Context, v *vdir, parent *prevDir) (*dirFuture, error) {
	job := &dirJob{path: v.abs, fut: &dirFuture{done: make(chan struct{})}, prev: parent}
	names := make([]string, 0, len(v.children))
	for n := range v.children {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		c := v.children[name]
		fi, err := os.Lstat(c.abs)
		if err != nil {
			return nil, fmt.Errorf("cannot back up %s: %w", c.abs, err)
		}
		prev := findNode(parent, name)
		if c.source {
			pn, ok, err := a.entry(ctx, c.abs, name, fi, prev)
			if err != nil {
				return nil, err
			}
			if ok {
				job.nodes = append(job.nodes, pn)
			}
			continue
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("cannot back up below %s: not a directory", c.abs)
		}
		sub, err := a.walkVirtual(ctx, c, a.prevTree(ctx, prev))
		if err != nil {
			return nil, err
		}
		node := nodeFromInfo(name, fi)
		a.xattrs(c.abs, &node)
		job.nodes = append(job.nodes, pendingNode{node: node, dir: sub})
	}
	if err := a.sendDir(ctx, job); err != nil {
		return nil, err
	}
	return job.fut, nil
}

func findNode(d *prevDir, name string) *repo.Node {
	if d == nil {
		return nil
	}
	return d.tree.Find(name)
}

func (a *archiver) prevTree(ctx context.Context, prev *repo.Node) *prevDir {
	if prev == nil || prev.Type != repo.NodeDir || prev.Subtree == nil {
		return nil
	}
	t, err := a.r.LoadTree(ctx, *prev.Subtree)
	if err != nil {
		a.log.Warn("parent tree unreadable; reading the directory's files", "err", err)
		return nil
	}
	return &prevDir{id: *prev.Subtree, tree: t}
}

func (a *archiver) sendDir(ctx context.Context, job *dirJob) error {
	select {
	case a.dirs <- job:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// walkDir walks one real directory and queues its listing.
func (a *archiver) walkDir(ctx context.Context, abs string, parent *prevDir) (*dirFuture, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	job := &dirJob{path: abs, fut: &dirFuture{done: make(chan struct{})}, prev: parent}
	d, err := a.openDir(abs)
	defer a.closeDir(d)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			a.warn("directory %s vanished during the backup", quote.Name(abs))
		} else {
			a.skip(abs, err)
		}
	}
	job.nodes = make([]pendingNode, 0, len(d.names))
	prefix := abs + "/" // abs is clean, a name holds no slash: no filepath.Join
	if abs == "/" {
		prefix = abs
	}
	for _, name := range d.names {
		full := prefix + name
		if a.excluded(full, name) {
			continue
		}
		fi, err := d.lstat(full, name)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				a.skip(full, err)
			}
			continue
		}
		pn, ok, err := a.entry(ctx, full, name, fi, findNode(parent, name))
		if err != nil {
			return nil, err
		}
		if ok {
			job.nodes = append(job.nodes, pn)
		}
	}
	a.dirsN.Add(1)
	if err := a.sendDir(ctx, job); err != nil {
		return nil, err
	}
	return job.fut, nil
}

func (a *archiver) excluded(full, name string) bool {
	for _, s := range a.opts.SkipPaths {
		if full == s {
			return true
		}
	}
	for _, pat := range a.opts.Excludes {
		if ok, _ := filepath.Match(pat, name); ok {
			return true
		}
		if ok, _ := filepath.Match(pat, full); ok {
			return true
		}
		if strings.HasSuffix(pat, "/") && (full+"/" == pat || strings.HasSuffix(full+"/", "/"+pat)) {
			return true
		}
	}
	return false
}

// entry makes the pending node for one directory entry: files are queued
// for the workers (unless unchanged), directories are walked.
func (a *archiver) entry(ctx context.Context, full, name string, fi fs.FileInfo, prev *repo.Node) (pendingNode, bool, error) {
	node := nodeFromInfo(name, fi)
	if a.parentXattrs && prev != nil && prev.Type == node.Type && prev.Inode == node.Inode && prev.Size == node.Size &&
		prev.ChangeTime.Equal(node.ChangeTime) && prev.ModTime.Equal(node.ModTime) {
		node.Xattrs = prev.Xattrs
	} else {
		a.xattrs(full, &node)
	}
	switch node.Type {
	case repo.NodeDir:
		sub, err := a.walkDir(ctx, full, a.prevTree(ctx, prev))
		if err != nil {
			return pendingNode{}, false, err
		}
		return pendingNode{node: node, dir: sub}, true, nil
	case repo.NodeSymlink:
		target, err := os.Readlink(full)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return pendingNode{}, false, nil
			}
			a.skip(full, err)
			return pendingNode{}, false, nil
		}
		node.SetTarget(target)
		return pendingNode{node: node}, true, nil
	case repo.NodeFile:
		a.files.Add(1)
		a.size.Add(node.Size)
		if prev != nil && !a.opts.ReadAll && unchanged(prev, &node) && a.allStored(prev.Content) {
			node.Content = prev.Content
			a.filesSame.Add(1)
			a.filesPassed.Add(1)
			a.bytesPassed.Add(node.Size)
			return pendingNode{node: node}, true, nil
		}
		state := stateNew
		if prev != nil {
			state = stateChanged
			if unchanged(prev, &node) {
				state = stateNone // re-read by a full backup, but not changed
			}
		}
		job := &fileJob{path: full, size: node.Size, done: make(chan struct{})}
		select {
		case a.jobs <- job:
		default:
			// The readers are busy: this backup takes a while, so its
			// progress wants the real totals.
			a.startScan(ctx, a.paths)
			select {
			case a.jobs <- job:
			case <-ctx.Done():
				return pendingNode{}, false, ctx.Err()
			}
		}
		return pendingNode{node: node, file: job, state: state}, true, nil
	case repo.NodeFIFO, repo.NodeCharDev, repo.NodeBlockDev:
		return pendingNode{node: node}, true, nil
	case nodeSocket:
		a.warn("skipped socket %s: a socket is made by the program that listens on it, it cannot be backed up", quote.Name(full))
		return pendingNode{}, false, nil
	}
	a.warn("skipped %s: a file of unknown kind (%s)", quote.Name(full), fi.Mode().Type())
	return pendingNode{}, false, nil
}

func unchanged(prev, cur *repo.Node) bool {
	return prev.Type == repo.NodeFile && prev.Size == cur.Size && prev.ModTime.Equal(cur.ModTime) &&
		prev.ChangeTime.Equal(cur.ChangeTime) && prev.Inode == cur.Inode
}

func (a *archiver) allStored(ids []repo.ID) bool {
	for _, id := range ids {
		if !a.s.Known(id) {
			return false
		}
	}
	return true
}

// nodeFromInfo fills a node's metadata from lstat.
func nodeFromInfo(name string, fi fs.FileInfo) repo.Node {
	n := repo.Node{Mode: uint32(fi.Mode()), ModTime: fi.ModTime()}
	n.SetName(name)
	m := fi.Mode()
	switch {
	case m.IsRegular():
		n.Type = repo.NodeFile
		n.Size = fi.Size()
	case fi.IsDir():
		n.Type = repo.NodeDir
	case m&fs.ModeSymlink != 0:
		n.Type = repo.NodeSymlink
	case m&fs.ModeNamedPipe != 0:
		n.Type = repo.NodeFIFO
	case m&fs.ModeCharDevice != 0:
		n.Type = repo.NodeCharDev
	case m&fs.ModeDevice != 0:
		n.Type = repo.NodeBlockDev
	case m&fs.ModeSocket != 0:
		n.Type = nodeSocket
	default:
		n.Type = "unknown"
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		n.UID, n.GID = st.Uid, st.Gid
		n.ChangeTime = time.Unix(st.Ctim.Sec, st.Ctim.Nsec)
		switch n.Type {
		case repo.NodeFile:
			n.Inode = st.Ino
			if st.Nlink > 1 {
				n.Links, n.Device = uint64(st.Nlink), uint64(st.Dev)
			}
			// Fewer blocks than the size needs: the file has holes.
			n.Sparse = st.Blocks*512 < st.Size
		case repo.NodeCharDev, repo.NodeBlockDev:
			n.Rdev = uint64(st.Rdev)
		}
	}
	return n
}

func (a *archiver) worker(ctx context.Context) {
	buf := make([]byte, 0)
	ch := chunker.New(a.r.ChunkerTable(), nil, buf)
	h := a.r.NewHasher()
	for job := range a.jobs {
		if ctx.Err() != nil {
			job.err = ctx.Err()
		} else {
			job.err = a.saveFile(ctx, job, ch, h)
		}
		close(job.done)
	}
}

func (a *archiver) saveFile(ctx context.Context, job *fileJob, ch *chunker.Chunker, h *crypto.Hasher) error {
	p := job.path
	a.current.Store(&p)
	f, err := os.Open(job.path)
	if err != nil {
		return err // the caller names the path
	}
	defer f.Close()
	buf := ch.Buffer()
	if cap(buf) < chunker.MaxSize && job.size > int64(cap(buf)) {
		buf = make([]byte, min(int64(chunker.MaxSize), max(job.size, 64<<10)))
	}
	// The time in the file's reads is the read phase; the rest of the
	// loop but the saver's (compress, encrypt, upload) is chunking and
	// hashing. Reads are timed where they happen: no extra system calls.
	tr := &timedReader{r: f}
	ch.Reset(tr, buf)
	start := time.Now()
	var saving time.Duration
	var chunks int64
	defer func() {
		a.readNanos.Add(int64(tr.d))
		a.chunkNanos.Add(int64(time.Since(start) - tr.d - saving))
		a.chunks.Add(chunks)
		a.filesRead.Add(1)
	}()
	for {
		chunk, _, err := ch.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return &fs.PathError{Op: "read", Path: job.path, Err: err}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		id := h.Sum(chunk)
		chunks++
		if a.s.Reserve(id) {
			t := time.Now()
			if _, err := a.s.Save(pack.DataBlob, id, chunk, a.opts.Compress); err != nil {
				a.setFatal(err)
				return err
			}
			saving += time.Since(t)
			a.bytesNew.Add(int64(len(chunk)))
		}
		job.content = append(job.content, id)
		job.read += int64(len(chunk))
		a.read.Add(int64(len(chunk)))
		a.bytesPassed.Add(int64(len(chunk)))
	}
	a.filesPassed.Add(1)
	return nil
}

// buildTrees assembles directory listings in the order the walker
// finished them (children before parents) and stores them.
func (a *archiver) buildTrees(ctx context.Context) {
	h := a.r.NewHasher()
	for job := range a.dirs {
		job.fut.id, job.fut.err = a.buildTree(ctx, job, h)
		if job.fut.err != nil {
			a.setFatal(job.fut.err)
		}
		close(job.fut.done)
	}
}

func (a *archiver) buildTree(ctx context.Context, job *dirJob, h *crypto.Hasher) (repo.ID, error) {
	tree := &repo.Tree{Nodes: make([]repo.Node, 0, len(job.nodes))}
	var firstErr error
	for _, pn := range job.nodes {
		node := pn.node
		switch {
		case pn.file != nil:
			<-pn.file.done
			if err := pn.file.err; err != nil {
				if ctx.Err() != nil {
					firstErr = cmpErr(firstErr, ctx.Err())
					continue
				}
				if a.fatalErr() != nil {
					firstErr = cmpErr(firstErr, err)
					continue
				}
				if errors.Is(err, fs.ErrNotExist) {
					a.warn("file %s vanished during the backup", quote.Name(pn.file.path))
				} else {
					a.skip(pn.file.path, err)
				}
				a.size.Add(-node.Size)
				a.files.Add(-1)
				continue
			}
			node.Content = pn.file.content
			if pn.file.read != node.Size {
				a.size.Add(pn.file.read - node.Size)
				node.Size = pn.file.read
			}
			switch pn.state {
			case stateNew:
				a.filesNew.Add(1)
			case stateChanged:
				a.filesChanged.Add(1)
			default:
				a.filesSame.Add(1)
			}
		case pn.dir != nil:
			<-pn.dir.done
			if pn.dir.err != nil {
				firstErr = cmpErr(firstErr, pn.dir.err)
				continue
			}
			id := pn.dir.id
			node.Subtree = &id
		}
		tree.Nodes = append(tree.Nodes, node)
	}
	job.nodes = nil // a huge directory's pending entries can go before its tree is encoded
	if firstErr != nil {
		return repo.ID{}, firstErr
	}
	tree.Sort()
	prev := job.prev
	job.prev = nil
	if prev != nil && a.sameListing(tree, prev) {
		return prev.id, nil
	}
	id, _, err := a.r.SaveTree(a.s, tree, h)
	return id, err
}

// sameListing reports whether tree records exactly what the parent
// snapshot's listing does, and that listing's blobs are stored and not
// found damaged: the directory then reuses the parent's tree blob, as
// encoding the same listing again would only dedup onto it.
func (a *archiver) sameListing(tree *repo.Tree, prev *prevDir) bool {
	if len(tree.Nodes) != len(prev.tree.Nodes) || !a.s.Known(prev.id) {
		return false
	}
	for _, p := range prev.tree.Parts {
		if !a.s.Known(p) {
			return false
		}
	}
	for i := range tree.Nodes {
		if !tree.Nodes[i].Same(&prev.tree.Nodes[i]) {
			return false
		}
	}
	return true
}

func cmpErr(old, err error) error {
	if old != nil {
		return old
	}
	return err
}

// timedReader sums the time its reads take.
type timedReader struct {
	r io.Reader
	d time.Duration
}

func (t *timedReader) Read(p []byte) (int, error) {
	start := time.Now()
	n, err := t.r.Read(p)
	t.d += time.Since(start)
	return n, err
}

// startScan starts counting the sources for the progress totals, once.
func (a *archiver) startScan(ctx context.Context, paths []string) {
	a.scanOnce.Do(func() {
		a.scanWG.Go(func() {
			a.scan(ctx, paths)
			if ctx.Err() == nil {
				a.scanned.Store(true)
			}
		})
	})
}

// totals are the progress totals: the count of the sources once it is
// done, the walk's own count once the walk is done, else the best guess
// so far (the parent snapshot's totals, or what was counted or walked).
func (a *archiver) totals() (files, bytes int64) {
	switch {
	case a.scanned.Load():
		return a.filesTotal.Load(), a.bytesTotal.Load()
	case a.walked.Load():
		return a.files.Load(), a.size.Load()
	}
	return max(a.opts.ParentFiles, a.filesTotal.Load(), a.files.Load()),
		max(a.opts.ParentBytes, a.bytesTotal.Load(), a.size.Load())
}

// scan counts the files and bytes to back up, for the progress totals.
func (a *archiver) scan(ctx context.Context, paths []string) {
	start := time.Now()
	defer func() { a.scanNanos.Add(int64(time.Since(start))) }()
	for _, p := range paths {
		_ = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if path != p && a.excluded(path, d.Name()) {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() {
				if fi, err := d.Info(); err == nil {
					a.filesTotal.Add(1)
					a.bytesTotal.Add(fi.Size())
				}
			}
			return nil
		})
	}
}

// report reads the counters for a progress report.
func (a *archiver) report() Progress {
	p := Progress{Files: a.filesPassed.Load(), Bytes: a.bytesPassed.Load()}
	p.FilesTotal, p.BytesTotal = a.totals()
	if c := a.current.Load(); c != nil {
		p.Path = *c
	}
	return p
}
