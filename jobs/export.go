package jobs

import (
	"archive/tar"
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/internal/humanize"
	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/engine"
)

// defaultExportDir is where export writes without --destination (relative
// to the worker's working directory, like the default repository).
const defaultExportDir = "var/exports"

// export writes a backup out as a tar, zip or 7z archive to --destination,
// a directory on the worker or a configured storage (NAME:prefix/). It
// restores the snapshot into a scratch directory (on disk, so memory stays
// flat whatever the backup's size) and streams the archive from it: to its
// final directory through a temporary name, or to the storage part by
// part. Archives are reproducible: entries in name order, times from the
// snapshot, no owner names, no access or change times, zip without extra
// timestamp fields. --split SIZE cuts the archive into NAME.part001,
// NAME.part002, ... (join them with cat); --checksum writes NAME.sha256
// with one line per file written (the archive, or each part) and, when
// split, NAME.joined.sha256 for the rejoined archive, both in sha256sum
// format. An archive that exists is replaced
// only with --force.
func (w *Worker) export(ctx context.Context, j *Job, c *commands.Export) (*Result, error) {
	format := c.Format
	if format == "" {
		format = commands.FormatTar
	}
	sevenZip := ""
	switch format {
	case commands.FormatTar, commands.FormatZip:
	case commands.Format7z:
		if sevenZip = config.SevenZip(); sevenZip == "" {
			return nil, badInput(errors.New("--format 7z needs the 7z program (Debian package p7zip-full or 7zip), which this worker lacks: install it or use --format tar or zip"))
		}
	default:
		return nil, badInput(fmt.Errorf("export format %q is not supported: use --format tar, zip or 7z", format))
	}
	ns, err := w.config().ResolveStorage(c.Storage)
	if err != nil {
		return nil, badInput(err)
	}
	sink, err := w.exportSink(ctx, c.Destination)
	if err != nil {
		return nil, err
	}
	defer sink.close()
	r, err := w.openRepo(ctx, ns, j, openOptions{})
	if err != nil {
		return nil, err
	}
	closeRepo := sync.OnceValue(r.Close)
	defer closeRepo()
	ref := c.Name
	if ref == "" {
		ref = "latest"
	}
	snap, err := r.Find(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("find backup %q in storage %s: %w", ref, ns.Name, classify(err))
	}
	name := fmt.Sprintf("%s-%s.%s", safeName(snap.Name), short(snap.ID), format)
	if !c.Force {
		for _, n := range []string{name, name + ".part001", name + ".sha256"} {
			ok, err := sink.exists(ctx, n)
			if err != nil {
				return nil, fmt.Errorf("export destination %s: %w", sink.where(), err)
			}
			if ok {
				return nil, badInput(fmt.Errorf("%s already exists in %s: add --force to replace it, or export to another --destination", n, sink.where()))
			}
		}
	}

	scratch, err := os.MkdirTemp(sink.scratchDir(), ".export-"+j.Meta.JobID+"-")
	if err != nil {
		return nil, fmt.Errorf("make scratch directory: %w", err)
	}
	defer os.RemoveAll(scratch)
	tree := filepath.Join(scratch, "tree")
	if _, err := r.Restore(ctx, engine.RestoreRequest{Snapshot: snap.ID, To: tree}, j.Progress); err != nil {
		return nil, fmt.Errorf("read backup %s for export: %w", snap.Name, classify(err))
	}
	// The repository is not needed any more: release its lock and memory
	// before archiving.
	_ = closeRepo()

	if err := settleAncestors(tree, snap.Paths, snap.Time); err != nil {
		return nil, fmt.Errorf("prepare the export tree: %w", err)
	}
	j.Progress(engine.Progress{Phase: "archive", Path: name})
	out := &splitWriter{ctx: ctx, sink: sink, name: name, limit: int64(c.Split), sum: sha256.New()}
	switch format {
	case commands.FormatZip:
		err = writeZip(ctx, out, tree)
	case commands.Format7z:
		err = write7z(ctx, sevenZip, out, tree, scratch)
	default:
		err = writeTar(ctx, out, tree)
	}
	if err == nil {
		err = out.Close()
	} else {
		out.abort()
	}
	if err != nil {
		return nil, fmt.Errorf("write %s archive to %s: %w", format, sink.where(), err)
	}
	files := out.finals()
	whole := hex.EncodeToString(out.sum.Sum(nil))
	if c.Checksum {
		// NAME.sha256 covers what was written, so `sha256sum -c NAME.sha256`
		// passes right after the export: the archive, or each part. A split
		// export adds NAME.joined.sha256 for the archive rejoined with cat.
		var b strings.Builder
		for _, p := range out.parts {
			fmt.Fprintf(&b, "%s  %s\n", p.sum, p.name)
		}
		manifests := map[string]string{name + ".sha256": b.String()}
		order := []string{name + ".sha256"}
		if len(out.parts) > 1 {
			manifests[name+".joined.sha256"] = whole + "  " + name + "\n"
			order = append(order, name+".joined.sha256")
		}
		for _, m := range order {
			where, err := sink.writeSmall(ctx, m, []byte(manifests[m]))
			if err != nil {
				return nil, fmt.Errorf("write checksums %s: %w", m, err)
			}
			files = append(files, where)
		}
	}
	res := &Result{
		Summary: fmt.Sprintf("Exported %s (%s) as %s to %s: %s", snap.Name, short(snap.ID), name, sink.where(), humanize.Bytes(out.total)),
		Fields: []Field{{"Snapshot", fmt.Sprintf("%s (%s)", snap.Name, short(snap.ID))}, {"Format", string(format)},
			{"Size", humanize.Bytes(out.total)}, {"Files", strings.Join(files, "\n")}},
		Data: rawJSON(map[string]any{"snapshot": snap.ID, "files": files, "bytes": out.total, "sha256": whole}),
	}
	return res, nil
}

// settleAncestors gives the directories a restore creates above the backed
// up paths (which the snapshot does not hold) the snapshot's time instead
// of now, so the archive does not depend on when it was made.
func settleAncestors(tree string, paths []string, at time.Time) error {
	seen := map[string]bool{}
	for _, p := range paths {
		rel := strings.Trim(filepath.ToSlash(filepath.Clean(p)), "/")
		for d := path.Dir(rel); d != "." && d != "/" && !seen[d]; d = path.Dir(d) {
			seen[d] = true
		}
	}
	for d := range seen {
		full := filepath.Join(tree, filepath.FromSlash(d))
		if err := os.Chtimes(full, at, at); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// safeName keeps a snapshot name usable as a file name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r < 32 || r == ':' {
			return '_'
		}
		return r
	}, s)
}

// walkTree calls fn for every entry under root (not root itself) with its
// slash-separated relative path, in lexical order.
func walkTree(ctx context.Context, root string, fn func(rel, path string, info fs.FileInfo) error) error {
	return filepath.Walk(root, func(path string, info fs.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rel, err := filepath.Rel(root, path)
		if err != nil || rel == "." {
			return err
		}
		return fn(filepath.ToSlash(rel), path, info)
	})
}

func writeTar(ctx context.Context, w io.Writer, root string) error {
	tw := tar.NewWriter(w)
	err := walkTree(ctx, root, func(rel, path string, info fs.FileInfo) error {
		// Owners as numbers only: names would depend on this machine's
		// user database.
		uid, gid := statIDs(info)
		h := &tar.Header{
			Name:    rel,
			Mode:    int64(info.Mode().Perm()),
			ModTime: info.ModTime().UTC().Truncate(time.Second),
			Uid:     uid, Gid: gid,
			Format: tar.FormatPAX,
		}
		switch {
		case info.IsDir():
			h.Typeflag, h.Name = tar.TypeDir, rel+"/"
		case info.Mode()&fs.ModeSymlink != 0:
			l, err := os.Readlink(path)
			if err != nil {
				return err
			}
			h.Typeflag, h.Linkname = tar.TypeSymlink, l
		case info.Mode().IsRegular():
			h.Typeflag, h.Size = tar.TypeReg, info.Size()
		default:
			return nil // devices, sockets, fifos are not archived
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			return copyFile(tw, path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// msDosTime encodes t (UTC) the way zip's legacy header fields do.
func msDosTime(t time.Time) (date, tm uint16) {
	t = t.UTC()
	if t.Year() < 1980 {
		t = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	date = uint16(t.Day() + int(t.Month())<<5 + (t.Year()-1980)<<9)
	tm = uint16(t.Second()/2 + t.Minute()<<5 + t.Hour()<<11)
	return date, tm
}

func writeZip(ctx context.Context, w io.Writer, root string) error {
	zw := zip.NewWriter(w)
	err := walkTree(ctx, root, func(rel, path string, info fs.FileInfo) error {
		// Built by hand, not with zip.FileInfoHeader: a set Modified adds
		// an extended-timestamp extra field; the DOS time alone is enough.
		h := &zip.FileHeader{Name: rel, Method: zip.Store}
		h.ModifiedDate, h.ModifiedTime = msDosTime(info.ModTime())
		h.SetMode(info.Mode())
		switch {
		case info.IsDir():
			h.Name += "/"
		case info.Mode()&fs.ModeSymlink != 0:
		case info.Mode().IsRegular():
			h.Method = zip.Deflate
		default:
			return nil
		}
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			l, err := os.Readlink(path)
			if err != nil {
				return err
			}
			_, err = io.WriteString(fw, l)
			return err
		case info.Mode().IsRegular():
			return copyFile(fw, path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return zw.Close()
}

// write7z runs the 7z program over root into a file in scratch (a 7z
// archive's header is written last and points back into it, so 7z needs a
// seekable file) and copies that into w. One thread and fixed options keep
// the bytes the same for the same snapshot.
func write7z(ctx context.Context, prog string, w io.Writer, root, scratch string) error {
	archive := filepath.Join(scratch, "archive.7z")
	cmd := exec.CommandContext(ctx, prog, "a", "-t7z", "-mx=5", "-mmt=1", "-mtc=off", "-mta=off", "-mtm=on",
		"-bd", "-y", "-snl", archive, ".")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "TZ=UTC", "LC_ALL=C")
	if out, err := cmd.CombinedOutput(); err != nil {
		tail := strings.TrimSpace(string(out))
		if len(tail) > 400 {
			tail = tail[len(tail)-400:]
		}
		return fmt.Errorf("%s failed: %w: %s", filepath.Base(prog), err, tail)
	}
	defer os.Remove(archive)
	return copyFile(w, archive)
}

func copyFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// schemeDest is a URL-like destination (s3://, azure://, smb://...).
var schemeDest = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)

// exportSink resolves --destination: NAME:prefix (NAME a configured
// storage) writes to that storage, anything else is a directory here.
func (w *Worker) exportSink(ctx context.Context, dest string) (sink, error) {
	cfg := w.config()
	if name, prefix, ok := strings.Cut(dest, ":"); ok && !strings.HasPrefix(prefix, "//") && !strings.ContainsAny(name, `/\`) {
		if spec, found := cfg.Storages[name]; found {
			b, err := w.deps.OpenBackend(ctx, spec)
			if err != nil {
				return nil, fmt.Errorf("export destination storage %s: %w", name, classify(err))
			}
			prefix = strings.Trim(path.Clean("/"+strings.ReplaceAll(prefix, `\`, "/")), "/")
			return &storageSink{be: b, name: name, prefix: prefix}, nil
		}
	}
	return localSink(dest, cfg)
}

func localSink(dest string, cfg *config.File) (sink, error) {
	if dest == "" {
		dest = defaultExportDir
	}
	names := strings.Join(storageNames(cfg), ", ")
	switch {
	case schemeDest.MatchString(dest):
		return nil, badInput(fmt.Errorf("--destination '%s' is a URL; export writes to a directory here or to a configured storage as NAME:prefix/ (configured: %s)", dest, names))
	case strings.HasPrefix(dest, `\\`) || (len(dest) >= 2 && dest[1] == ':' && (len(dest) == 2 || dest[2] == '/' || dest[2] == '\\')):
		return nil, badInput(fmt.Errorf("--destination '%s' is a Windows share or drive, which names nothing here; configure it as a storage and use NAME:prefix/ (configured: %s)", dest, names))
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return nil, fmt.Errorf("export destination %s: %w", dest, err)
	}
	return dirSink(dest), nil
}

func storageNames(cfg *config.File) []string {
	var out []string
	for n := range cfg.Storages {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// sink is where an export's files go.
type sink interface {
	where() string
	exists(ctx context.Context, name string) (bool, error)
	// create starts a file; commit makes it visible under name.
	create(ctx context.Context, name string) (*os.File, func(ctx context.Context) (string, error), error)
	writeSmall(ctx context.Context, name string, data []byte) (string, error)
	scratchDir() string
	close()
}

// dirSink writes into a directory: each file to a temporary name there,
// synced and renamed into place.
type dirSink string

func (d dirSink) where() string      { return string(d) }
func (d dirSink) scratchDir() string { return string(d) }
func (d dirSink) close()             {}

func (d dirSink) exists(_ context.Context, name string) (bool, error) {
	_, err := os.Lstat(filepath.Join(string(d), name))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func (d dirSink) create(_ context.Context, name string) (*os.File, func(context.Context) (string, error), error) {
	f, err := os.CreateTemp(string(d), ".part-*")
	if err != nil {
		return nil, nil, err
	}
	final := filepath.Join(string(d), name)
	return f, func(context.Context) (string, error) {
		if err := os.Rename(f.Name(), final); err != nil {
			os.Remove(f.Name())
			return "", err
		}
		return final, nil
	}, nil
}

func (d dirSink) writeSmall(ctx context.Context, name string, data []byte) (string, error) {
	f, commit, err := d.create(ctx, name)
	if err != nil {
		return "", err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return commit(context.Background())
}

// storageSink writes objects prefix/NAME to a configured storage. A
// backend's Put needs a seekable body of known size, so each file (each
// part, when split) is written to a temporary file first and uploaded
// from it; the whole archive is never held in memory.
type storageSink struct {
	be     backend.Backend
	name   string
	prefix string
}

func (s *storageSink) key(name string) string {
	if s.prefix == "" {
		return name
	}
	return s.prefix + "/" + name
}

func (s *storageSink) where() string      { return s.name + ":" + s.prefix }
func (s *storageSink) scratchDir() string { return "" }
func (s *storageSink) close()             { _ = s.be.Close() }

func (s *storageSink) exists(ctx context.Context, name string) (bool, error) {
	_, err := s.be.Stat(ctx, s.key(name))
	if errors.Is(err, backend.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (s *storageSink) create(_ context.Context, name string) (*os.File, func(context.Context) (string, error), error) {
	f, err := os.CreateTemp("", ".export-part-*")
	if err != nil {
		return nil, nil, err
	}
	return f, func(ctx context.Context) (string, error) {
		defer os.Remove(f.Name())
		// Hand the restore's and the archiver's freed memory back before the
		// upload takes its part buffers, so the two peaks do not add up.
		debug.FreeOSMemory()
		rf, err := os.Open(f.Name())
		if err != nil {
			return "", err
		}
		defer rf.Close()
		st, err := rf.Stat()
		if err != nil {
			return "", err
		}
		if err := s.be.Put(ctx, s.key(name), rf, st.Size()); err != nil {
			return "", err
		}
		return s.name + ":" + s.key(name), nil
	}, nil
}

func (s *storageSink) writeSmall(ctx context.Context, name string, data []byte) (string, error) {
	if err := s.be.Put(ctx, s.key(name), strings.NewReader(string(data)), int64(len(data))); err != nil {
		return "", err
	}
	return s.name + ":" + s.key(name), nil
}

// splitWriter writes an archive to the sink as name, or with a limit as
// name.part001, name.part002, ... of at most limit bytes each. A part is
// committed (renamed or uploaded) as soon as it is full, so a storage
// destination holds at most one part on local disk at a time. It hashes
// the whole stream and each part.
type splitWriter struct {
	ctx   context.Context
	sink  sink
	name  string
	limit int64
	sum   hash.Hash
	total int64

	parts []*part
	cur   *part
}

type part struct {
	f      *os.File
	commit func(context.Context) (string, error)
	name   string
	final  string
	n      int64
	hash   hash.Hash
	sum    string
}

func (s *splitWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if s.cur == nil || (s.limit > 0 && s.cur.n >= s.limit) {
			if err := s.next(); err != nil {
				return written, err
			}
		}
		chunk := p
		if s.limit > 0 && int64(len(chunk)) > s.limit-s.cur.n {
			chunk = chunk[:s.limit-s.cur.n]
		}
		n, err := s.cur.f.Write(chunk)
		s.cur.hash.Write(chunk[:n])
		s.sum.Write(chunk[:n])
		s.cur.n += int64(n)
		s.total += int64(n)
		written += n
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

func (s *splitWriter) next() error {
	if s.cur != nil {
		if err := s.seal(s.cur); err != nil {
			return err
		}
	}
	name := s.name
	if s.limit > 0 {
		name = fmt.Sprintf("%s.part%03d", s.name, len(s.parts)+1)
	}
	f, commit, err := s.sink.create(s.ctx, name)
	if err != nil {
		return err
	}
	s.cur = &part{f: f, commit: commit, name: name, hash: sha256.New()}
	s.parts = append(s.parts, s.cur)
	return nil
}

// seal closes a part and commits it.
func (s *splitWriter) seal(p *part) error {
	if p.f == nil {
		return nil
	}
	err := errors.Join(p.f.Sync(), p.f.Close())
	tmp := p.f.Name()
	p.f = nil
	p.sum = hex.EncodeToString(p.hash.Sum(nil))
	if err != nil {
		os.Remove(tmp)
		return err
	}
	final, err := p.commit(s.ctx)
	if err != nil {
		return err
	}
	p.final = final
	return nil
}

// Close seals and commits the last part.
func (s *splitWriter) Close() error {
	if s.cur == nil {
		if err := s.next(); err != nil { // an empty archive is still a file
			return err
		}
	}
	if err := s.seal(s.cur); err != nil {
		s.abort()
		return err
	}
	return nil
}

// abort removes the part being written (parts already committed stay, and
// a later export with --force replaces them).
func (s *splitWriter) abort() {
	if s.cur != nil && s.cur.f != nil {
		s.cur.f.Close()
		os.Remove(s.cur.f.Name())
		s.cur.f = nil
	}
}

func (s *splitWriter) finals() []string {
	out := make([]string, len(s.parts))
	for i, p := range s.parts {
		out[i] = p.final
	}
	return out
}

func init() {
	register(commands.ActionExport, actionSpec{Timeout: 6 * time.Hour, MaxRetry: 0, Queue: QueueDefault,
		Why: "writes outside the repository: not retried"}, (*Worker).export)
}
