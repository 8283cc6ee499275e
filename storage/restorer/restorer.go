// Package restorer writes a snapshot's tree back to disk: every file to a
// temporary name that is renamed into place, with its permissions, owner
// (when running as root) and times; symlinks and empty directories too.
// No name from a snapshot can place a file outside the destination.
package restorer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backupbot/backupbot/internal/quote"
	"github.com/backupbot/backupbot/internal/randid"
	"github.com/backupbot/backupbot/storage/progress"
	"github.com/backupbot/backupbot/storage/repo"
)

// Plan actions.
const (
	ActionCreate    = "create"
	ActionOverwrite = "overwrite"
	ActionUnchanged = "unchanged"
)

// PlanEntry is what a restore does to one path.
type PlanEntry struct {
	Path   string
	Action string
	Size   int64
}

// Options say where and what to restore.
type Options struct {
	// Dest is the directory to restore into; each snapshot path P lands at
	// Dest/P. Empty means the original paths.
	Dest string
	// Sources are the snapshot's source paths; metadata is restored for
	// them and everything below, while directories above them are only
	// created when missing.
	Sources []string
	// Filter is a path prefix or glob (relative to a source path, or
	// absolute); empty restores everything.
	Filter string
	// Select, when set, restores only the non-directory entries (by
	// snapshot path) it returns true for, and the directories above them
	// (a recovery drill's sample).
	Select func(snapPath string) bool
	// Preview plans and writes nothing.
	Preview bool
	// Validate loads and checks every blob before writing anything; if
	// any file cannot be restored, nothing is written. With Preview it
	// checks and writes nothing either way.
	Validate bool
	Workers  int
	Progress func(Progress)
	Logger   *slog.Logger
	// RecoverIndex, when set, is called (once) the first time a needed
	// blob is not in the index, to index what the repository still has
	// (a damaged or lost index file); the lookup is then tried again.
	RecoverIndex func(context.Context) error
}

// Progress counts restored files and bytes.
type Progress = progress.Report

// Result summarises a restore.
type Result struct {
	Plan         []PlanEntry
	FilesWritten int64
	BytesWritten int64
	Warnings     []string
	// Lost names every file (or directory, when its listing is unreadable)
	// that could not be restored and why, by snapshot path. Everything
	// else was written.
	Lost []repo.LostFile
}

// ErrFilesLost is returned (wrapped) when some files could not be
// restored; Result.Lost names them.
var ErrFilesLost = errors.New("some files could not be restored")

type item struct {
	node     *repo.Node
	snapPath string // absolute path in the snapshot
	dest     string
	inSource bool
}

type restorer struct {
	r       *repo.Repository
	opts    Options
	log     *slog.Logger
	items   []item
	files   atomic.Int64
	bytes   atomic.Int64
	current atomic.Pointer[string]
	root    bool

	mu       sync.Mutex
	warnings []string
	lost     map[string]string
	// sawDamage is set when a blob failed its checks (not just missing).
	sawDamage atomic.Bool
	recover   sync.Once
}

// has reports whether a blob is indexed, recovering the index once when
// it is not.
func (rs *restorer) has(ctx context.Context, id repo.ID) bool {
	if rs.r.Index.Has(id) {
		return true
	}
	if rs.opts.RecoverIndex == nil {
		return false
	}
	rs.recover.Do(func() {
		if err := rs.opts.RecoverIndex(ctx); err != nil {
			rs.warn("could not read the pack headers in place of the damaged index: %v", err)
		}
	})
	return rs.r.Index.Has(id)
}

// Run restores the tree root.
func Run(ctx context.Context, r *repo.Repository, root repo.ID, opts Options) (*Result, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Workers <= 0 {
		opts.Workers = 2 * runtime.GOMAXPROCS(0)
	}
	if opts.Dest != "" {
		abs, err := filepath.Abs(opts.Dest)
		if err != nil {
			return nil, err
		}
		opts.Dest = abs
	}
	rs := &restorer{r: r, opts: opts, log: opts.Logger, root: os.Geteuid() == 0, lost: map[string]string{}}
	if _, err := rs.collect(ctx, root, "/", false, false); err != nil {
		return nil, err
	}
	var totalFiles, totalBytes int64
	for _, it := range rs.items {
		if it.node.Type != repo.NodeDir { // files, links, FIFOs, devices: all counted as written
			totalFiles++
			totalBytes += it.node.Size
		}
	}
	res := &Result{Plan: rs.plan()}
	if opts.Validate {
		if err := rs.validate(ctx); err != nil {
			return nil, err
		}
		if res.Lost = rs.lostFiles(); len(res.Lost) > 0 {
			return res, rs.lostError(fmt.Sprintf("validation found %d files that cannot be restored, so nothing was written", len(res.Lost)), res.Lost)
		}
	}
	if opts.Preview {
		return res, nil
	}
	stopProgress := progress.Every(200*time.Millisecond, opts.Progress, func() Progress {
		p := Progress{Files: rs.files.Load(), FilesTotal: totalFiles, Bytes: rs.bytes.Load(), BytesTotal: totalBytes}
		if c := rs.current.Load(); c != nil {
			p.Path = *c
		}
		return p
	})
	err := rs.write(ctx)
	stopProgress()
	res.FilesWritten, res.BytesWritten, res.Warnings = rs.files.Load(), rs.bytes.Load(), rs.warnings
	res.Lost = rs.lostFiles()
	if err == nil && len(res.Lost) > 0 {
		err = rs.lostError(fmt.Sprintf("%d files could not be restored, the other %d were", len(res.Lost), res.FilesWritten), res.Lost)
	}
	return res, err
}

// lose records that a snapshot path cannot be restored (the first reason
// wins).
func (rs *restorer) lose(snapPath, reason string) {
	rs.mu.Lock()
	if _, ok := rs.lost[snapPath]; !ok {
		rs.lost[snapPath] = reason
	}
	rs.mu.Unlock()
}

// lostError names the first lost files; it wraps ErrFilesLost, and
// repo.ErrDamaged when damaged data (not only missing data) was found.
func (rs *restorer) lostError(what string, lost []repo.LostFile) error {
	var b strings.Builder
	for i, l := range lost {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(lost)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(l.Path + ": " + l.Reason)
	}
	if rs.sawDamage.Load() {
		return fmt.Errorf("%s: %s: %w (%w)", what, b.String(), ErrFilesLost, repo.ErrDamaged)
	}
	return fmt.Errorf("%s: %s: %w", what, b.String(), ErrFilesLost)
}

func (rs *restorer) lostFiles() []repo.LostFile {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	out := make([]repo.LostFile, 0, len(rs.lost))
	for p, why := range rs.lost {
		out = append(out, repo.LostFile{Path: p, Reason: why})
	}
	slices.SortFunc(out, func(a, b repo.LostFile) int { return strings.Compare(a.Path, b.Path) })
	return out
}

func (rs *restorer) warn(format string, args ...any) {
	for i, a := range args { // names from a snapshot are printed quoted when unsafe
		if s, ok := a.(string); ok {
			args[i] = quote.Name(s)
		}
	}
	msg := fmt.Sprintf(format, args...)
	rs.log.Warn(msg)
	rs.mu.Lock()
	if len(rs.warnings) < 100 {
		rs.warnings = append(rs.warnings, msg)
	}
	rs.mu.Unlock()
}

// safeName rejects names that could leave their directory.
func safeName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

func (rs *restorer) destFor(snapPath string) (string, bool) {
	if rs.opts.Dest == "" {
		return snapPath, true
	}
	d := filepath.Join(rs.opts.Dest, snapPath)
	return d, d == rs.opts.Dest || strings.HasPrefix(d, rs.opts.Dest+string(filepath.Separator))
}

func (rs *restorer) isSource(p string) bool { return slices.Contains(rs.opts.Sources, p) }

// filterBelow reports whether the filter could select something at or
// below dir (always without a filter, or with a glob).
func (rs *restorer) filterBelow(dir string) bool {
	f := strings.Trim(rs.opts.Filter, "/")
	if f == "" || strings.ContainsAny(f, "*?[") {
		return true
	}
	d := strings.TrimSuffix(dir, "/") + "/"
	cands := []string{"/" + f}
	for _, s := range rs.opts.Sources {
		cands = append(cands, path.Join(s, f), path.Join(path.Dir(s), f))
	}
	for _, c := range cands {
		if strings.HasPrefix(c+"/", d) || strings.HasPrefix(d, c+"/") {
			return true
		}
	}
	return false
}

// underSource reports whether a source path lies at or below dir (so an
// unreadable dir hides that source).
func (rs *restorer) underSource(dir string) bool {
	for _, s := range rs.opts.Sources {
		if dir == "/" || s == dir || strings.HasPrefix(s, strings.TrimSuffix(dir, "/")+"/") {
			return true
		}
	}
	return false
}

// relTo returns p relative to the source containing it.
func (rs *restorer) relTo(p string) string {
	best := ""
	for _, s := range rs.opts.Sources {
		if (p == s || s == "/" || strings.HasPrefix(p, s+"/")) && len(s) > len(best) {
			best = s
		}
	}
	if best == "" {
		return ""
	}
	if p == best {
		return path.Base(p)
	}
	return strings.TrimPrefix(strings.TrimPrefix(p, best), "/")
}

// matches applies the filter to a snapshot path.
func (rs *restorer) matches(p string) bool {
	f := strings.Trim(rs.opts.Filter, "/")
	if f == "" {
		return true
	}
	rel := rs.relTo(p)
	abs := strings.TrimPrefix(p, "/")
	if !strings.ContainsAny(f, "*?[") {
		for _, c := range []string{rel, abs} {
			if c == f || strings.HasPrefix(c, f+"/") {
				return true
			}
		}
		return false
	}
	for _, c := range []string{rel, abs, path.Base(p)} {
		for q := c; q != "" && q != "." && q != "/"; q = path.Dir(q) {
			if ok, _ := path.Match(f, q); ok {
				return true
			}
		}
	}
	return false
}

// collect walks a tree, adding the items to restore; it returns whether
// anything below was selected.
func (rs *restorer) collect(ctx context.Context, id repo.ID, dir string, inSource, matched bool) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	_ = rs.has(ctx, id) // a listing a damaged index hides is found before loading it
	t, err := rs.r.LoadTree(ctx, id)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		// Only what lies below is lost; the rest of the snapshot restores.
		if (inSource || rs.isSource(dir) || rs.underSource(dir)) && (matched || rs.filterBelow(dir)) {
			rs.lose(strings.TrimSuffix(dir, "/")+"/", fmt.Sprintf("the directory's listing cannot be read, so nothing below it can be restored: %v", err))
			return true, nil
		}
		return false, nil
	}
	selected := false
	seen := map[string]bool{}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		name := n.FileName()
		if !safeName(name) || seen[name] {
			rs.warn("skipped an unsafe or duplicate name %s in %s", strconv.Quote(name), dir)
			continue
		}
		seen[name] = true
		p := path.Join(dir, name)
		src := inSource || rs.isSource(p)
		dest, ok := rs.destFor(p)
		if !ok {
			rs.warn("skipped %s: it would land outside the destination", p)
			continue
		}
		m := matched || (src && rs.matches(p))
		idx := len(rs.items)
		if n.Type == repo.NodeDir {
			rs.items = append(rs.items, item{node: n, snapPath: p, dest: dest, inSource: src})
			sub := false
			if n.Subtree != nil {
				sub, err = rs.collect(ctx, *n.Subtree, p, src, m)
				if err != nil {
					return false, err
				}
			}
			if !(m && src && rs.opts.Select == nil) && !sub {
				rs.items = slices.Delete(rs.items, idx, idx+1)
				continue
			}
			selected = true
			continue
		}
		if !src || !m || (rs.opts.Select != nil && !rs.opts.Select(p)) {
			continue
		}
		if !restorable(n.Type) {
			rs.warn("skipped %s: a file of unknown kind %s", p, n.Type)
			continue
		}
		rs.items = append(rs.items, item{node: n, snapPath: p, dest: dest, inSource: src})
		selected = true
	}
	return selected, nil
}

func (rs *restorer) plan() []PlanEntry {
	out := make([]PlanEntry, 0, len(rs.items))
	for _, it := range rs.items {
		if !it.inSource {
			continue
		}
		e := PlanEntry{Path: it.dest, Size: it.node.Size, Action: ActionCreate}
		fi, err := os.Lstat(it.dest)
		if err == nil {
			e.Action = ActionOverwrite
			switch it.node.Type {
			case repo.NodeDir:
				if fi.IsDir() {
					e.Action = ActionUnchanged
				}
			case repo.NodeFile:
				if fi.Mode().IsRegular() && fi.Size() == it.node.Size && fi.ModTime().Equal(it.node.ModTime) {
					e.Action = ActionUnchanged
				}
			case repo.NodeSymlink:
				if t, err := os.Readlink(it.dest); err == nil && t == it.node.Target() {
					e.Action = ActionUnchanged
				}
			}
		}
		out = append(out, e)
	}
	return out
}

// write creates directories, writes files and symlinks in parallel, then
// sets directory metadata deepest first.
func (rs *restorer) write(ctx context.Context) error {
	if rs.opts.Dest != "" {
		if err := os.MkdirAll(rs.opts.Dest, 0o700); err != nil {
			return fmt.Errorf("creating the destination: %w", err)
		}
	}
	var dirs []item
	for _, it := range rs.items {
		if it.node.Type == repo.NodeDir {
			created, err := rs.mkdir(it)
			if err != nil {
				return err
			}
			if it.inSource || created { // a parent made here gets its metadata too
				dirs = append(dirs, it)
			}
		}
	}
	var files []item
	for _, it := range rs.items {
		switch it.node.Type {
		case repo.NodeSymlink:
			if err := rs.symlink(it); err != nil {
				return err
			}
		case repo.NodeFile:
			files = append(files, it)
		case repo.NodeFIFO, repo.NodeCharDev, repo.NodeBlockDev:
			if err := rs.special(it); err != nil {
				return err
			}
		}
	}
	files, links := splitLinks(files)
	if err := rs.writeFiles(ctx, files); err != nil {
		return err
	}
	if err := rs.writeLinks(links); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	slices.SortFunc(dirs, func(a, b item) int { return strings.Count(b.dest, "/") - strings.Count(a.dest, "/") })
	for _, it := range dirs {
		rs.meta(it.dest, it.node, false)
	}
	return nil
}

// mkdir makes a directory; inside a source, something else in its place
// (a file, a symlink) is replaced so nothing is written through a link.
// It reports whether it created the directory.
func (rs *restorer) mkdir(it item) (bool, error) {
	fi, err := os.Lstat(it.dest)
	switch {
	case err == nil && fi.IsDir():
		return false, nil
	case err == nil && !it.inSource && fi.Mode()&fs.ModeSymlink != 0:
		if st, serr := os.Stat(it.dest); serr == nil && st.IsDir() {
			return false, nil // a symlinked directory above the sources, like /var -> /private/var
		}
		fallthrough
	case err == nil:
		if err := os.Remove(it.dest); err != nil {
			return false, fmt.Errorf("restoring directory %s: something else is in its place: %w", it.dest, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("restoring directory %s: %w", it.dest, err)
	}
	if err := os.Mkdir(it.dest, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, fmt.Errorf("restoring directory %s: %w", it.dest, err)
	}
	if !it.inSource {
		_ = os.Chmod(it.dest, it.node.FileMode().Perm())
	}
	return true, nil
}

// tempName is a random hidden name next to dest.
func tempName(dest string) string {
	return filepath.Join(filepath.Dir(dest), ".bbrestore-"+randid.Hex(8))
}

// replace renames tmp over dest; a directory in the way is removed only
// when empty.
func (rs *restorer) replace(tmp, dest string) error {
	err := os.Rename(tmp, dest)
	if err != nil {
		if fi, lerr := os.Lstat(dest); lerr == nil && fi.IsDir() {
			if rerr := os.Remove(dest); rerr == nil {
				err = os.Rename(tmp, dest)
			}
		}
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("restoring %s: %w", dest, err)
	}
	return nil
}

func (rs *restorer) symlink(it item) error {
	tmp := tempName(it.dest)
	if err := os.Symlink(it.node.Target(), tmp); err != nil {
		return fmt.Errorf("restoring symlink %s: %w", it.dest, err)
	}
	rs.meta(tmp, it.node, true)
	if err := rs.replace(tmp, it.dest); err != nil {
		return err
	}
	rs.files.Add(1)
	return nil
}

// meta sets owner (as root), mode and times; failures are warnings.
func (rs *restorer) meta(p string, n *repo.Node, link bool) {
	if rs.root {
		if err := os.Lchown(p, int(n.UID), int(n.GID)); err != nil {
			rs.warn("cannot set the owner of %s: %v", p, err)
		}
	}
	rs.setXattrs(p, n)
	if !link {
		mode := n.FileMode()
		perm := mode.Perm()
		if mode&fs.ModeSetuid != 0 {
			perm |= fs.ModeSetuid
		}
		if mode&fs.ModeSetgid != 0 {
			perm |= fs.ModeSetgid
		}
		if mode&fs.ModeSticky != 0 {
			perm |= fs.ModeSticky
		}
		if err := os.Chmod(p, perm); err != nil {
			rs.warn("cannot set the mode of %s: %v", p, err)
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(n.ModTime.UnixNano()), unix.NsecToTimespec(n.ModTime.UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		rs.warn("cannot set the times of %s: %v", p, err)
	}
}
