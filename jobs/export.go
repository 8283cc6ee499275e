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
	"path/filepath"
	"strings"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/storage/engine"
)

// defaultExportDir is where export writes without --destination (relative
// to the worker's working directory, like the default repository).
const defaultExportDir = "var/exports"

// export writes a backup out as a tar or zip archive in --destination (a
// directory on the worker): it restores the snapshot into a scratch
// directory next to the destination, archives it to a temp name and
// renames it into place. --split SIZE cuts the archive into numbered
// parts (NAME.001, NAME.002, ...; join them with cat); --checksum writes
// NAME.sha256 in sha256sum format. 7z is not supported.
func (w *Worker) export(ctx context.Context, j *Job) (*Result, error) {
	c, err := command[*commands.Export](j)
	if err != nil {
		return nil, err
	}
	format := c.Format
	if format == "" {
		format = commands.FormatTar
	}
	if format != commands.FormatTar && format != commands.FormatZip {
		return nil, badInput(fmt.Errorf("export format %q is not supported: use --format tar or zip", format))
	}
	ns, err := w.config().ResolveStorage(c.Storage)
	if err != nil {
		return nil, badInput(err)
	}
	dest := c.Destination
	if dest == "" {
		dest = defaultExportDir
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return nil, fmt.Errorf("export destination %s: %w", dest, err)
	}
	r, err := w.openRepo(ctx, ns, j, openOptions{})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	ref := c.Name
	if ref == "" {
		ref = "latest"
	}
	snap, err := r.Find(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("find backup %q in storage %s: %w", ref, ns.Name, classify(err))
	}
	scratch, err := os.MkdirTemp(dest, ".export-"+j.Meta.JobID+"-")
	if err != nil {
		return nil, fmt.Errorf("make scratch directory in %s: %w", dest, err)
	}
	defer os.RemoveAll(scratch)
	if _, err := r.Restore(ctx, engine.RestoreRequest{Snapshot: snap.ID, To: scratch}, engineProgress(j)); err != nil {
		return nil, fmt.Errorf("read backup %s for export: %w", snap.Name, classify(err))
	}

	name := fmt.Sprintf("%s-%s.%s", safeName(snap.Name), short(snap.ID), format)
	j.Progress(Progress{Phase: "archive", Path: name})
	out := &splitWriter{dir: dest, name: name, limit: int64(c.Split), sum: sha256.New()}
	switch format {
	case commands.FormatZip:
		err = writeZip(ctx, out, scratch)
	default:
		err = writeTar(ctx, out, scratch)
	}
	if err == nil {
		err = out.Close()
	} else {
		out.abort()
	}
	if err != nil {
		return nil, fmt.Errorf("write %s archive in %s: %w", format, dest, err)
	}
	files := out.finals()
	if c.Checksum {
		sumFile := filepath.Join(dest, name+".sha256")
		var b strings.Builder
		for _, f := range out.parts {
			fmt.Fprintf(&b, "%s  %s\n", f.sum, filepath.Base(f.final))
		}
		if len(out.parts) > 1 {
			fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(out.sum.Sum(nil)), name)
		}
		if err := os.WriteFile(sumFile, []byte(b.String()), 0o644); err != nil {
			return nil, fmt.Errorf("write checksums: %w", err)
		}
		files = append(files, sumFile)
	}
	res := &Result{
		Summary: fmt.Sprintf("Exported %s (%s) as %s in %s: %s", snap.Name, short(snap.ID), name, dest, humanBytes(out.total)),
		Fields: []Field{{"Snapshot", fmt.Sprintf("%s (%s)", snap.Name, short(snap.ID))}, {"Format", string(format)},
			{"Size", humanBytes(out.total)}, {"Files", strings.Join(files, "\n")}},
		Data: rawJSON(map[string]any{"snapshot": snap.ID, "files": files, "bytes": out.total, "sha256": hex.EncodeToString(out.sum.Sum(nil))}),
	}
	return res, nil
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
// slash-separated relative path.
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
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			l, err := os.Readlink(path)
			if err != nil {
				return err
			}
			link = l
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		h.Name = rel
		if info.IsDir() {
			h.Name += "/"
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

func writeZip(ctx context.Context, w io.Writer, root string) error {
	zw := zip.NewWriter(w)
	err := walkTree(ctx, root, func(rel, path string, info fs.FileInfo) error {
		h, err := zip.FileInfoHeader(info)
		if err != nil {
			return err
		}
		h.Name = rel
		if info.IsDir() {
			h.Name += "/"
		} else if info.Mode().IsRegular() {
			h.Method = zip.Deflate
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

func copyFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// splitWriter writes an archive to dir/name, or with a limit to
// dir/name.001, .002, ... of at most limit bytes each; each part goes to a
// temp name first and is renamed on Close. It hashes the whole stream and
// each part.
type splitWriter struct {
	dir, name string
	limit     int64
	sum       hash.Hash
	total     int64

	parts []*part
	cur   *part
}

type part struct {
	f          *os.File
	tmp, final string
	n          int64
	hash       hash.Hash
	sum        string
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
	final := filepath.Join(s.dir, s.name)
	if s.limit > 0 {
		final = fmt.Sprintf("%s.%03d", final, len(s.parts)+1)
	}
	f, err := os.CreateTemp(s.dir, ".part-*")
	if err != nil {
		return err
	}
	s.cur = &part{f: f, tmp: f.Name(), final: final, hash: sha256.New()}
	s.parts = append(s.parts, s.cur)
	return nil
}

func (s *splitWriter) seal(p *part) error {
	if p.f == nil {
		return nil
	}
	err := errors.Join(p.f.Sync(), p.f.Close())
	p.f = nil
	p.sum = hex.EncodeToString(p.hash.Sum(nil))
	return err
}

// Close seals the last part and renames every part into place.
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
	for _, p := range s.parts {
		if err := os.Rename(p.tmp, p.final); err != nil {
			s.abort()
			return err
		}
	}
	return nil
}

// abort removes every part written so far.
func (s *splitWriter) abort() {
	for _, p := range s.parts {
		if p.f != nil {
			p.f.Close()
		}
		os.Remove(p.tmp)
	}
}

func (s *splitWriter) finals() []string {
	out := make([]string, len(s.parts))
	for i, p := range s.parts {
		out[i] = p.final
	}
	return out
}
