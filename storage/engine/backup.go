package engine

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"time"

	"github.com/backupbot/backupbot/storage/archiver"
	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/repo"
)

// Backup makes one snapshot of req.Paths. Files are read according to
// req.Type: full reads all, incremental only those changed since the last
// snapshot of the same target and paths, differential only those changed
// since the last full one. Every snapshot is complete on its own.
func (e *Engine) Backup(ctx context.Context, req BackupRequest, p ProgressFunc) (*BackupResult, error) {
	start := time.Now()
	at := start // the snapshot's time
	if !req.Time.IsZero() {
		at = req.Time
	}
	if req.Type == "" {
		req.Type = TypeIncremental
	}
	if req.Type != TypeFull && req.Type != TypeIncremental && req.Type != TypeDifferential {
		return nil, fmt.Errorf("unknown backup type %q: use full, incremental or differential", req.Type)
	}
	if req.RequireEncryption && !e.repo.Encrypted() {
		return nil, fmt.Errorf("encryption was requested but the repository at %s is not encrypted; use a new repository location with a password set: %w", e.be.Location(), ErrNotEncrypted)
	}
	if len(req.Paths) == 0 {
		return nil, fmt.Errorf("target %q has no paths to back up", req.Target)
	}
	paths := make([]string, 0, len(req.Paths))
	for _, s := range req.Paths {
		abs, err := filepath.Abs(s)
		if err != nil {
			return nil, err
		}
		paths = append(paths, abs)
	}
	slices.Sort(paths)
	paths = slices.Compact(paths)

	lock, err := e.repo.Lock(ctx, false, "backup "+req.Target)
	if err != nil {
		return nil, err
	}
	defer e.unlock(ctx, lock)
	if err := e.repo.LoadIndex(ctx); err != nil {
		return nil, err
	}
	all, err := e.repo.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	if req.JobID != "" {
		for _, sn := range all {
			if sn.JobID == req.JobID {
				e.log.Info("a snapshot for this job exists already", "job", req.JobID, "snapshot", sn.ID.Short())
				return &BackupResult{Snapshot: infoOf(sn), Reused: true}, nil
			}
		}
	}
	parent := pickParent(all, req.Type, req.Target, paths)
	if p != nil {
		p(Progress{Phase: PhaseScan})
	}
	// A local disk takes one pack at a time as fast as several; object
	// stores want a few uploads in flight.
	uploads := repo.DefaultUploads
	if len(e.localDirs()) > 0 {
		uploads = 1
	}
	saver := e.repo.NewSaver(ctx, repo.SaverOptions{Uploads: uploads})
	opts := archiver.Options{
		Paths: paths, Excludes: req.Exclude, SkipPaths: e.localDirs(), ReadAll: req.Type == TypeFull,
		Compress: req.Compress, Logger: e.log,
	}
	if parent != nil {
		opts.Parent = parent.Tree
	}
	if p != nil {
		opts.Progress = func(ap archiver.Progress) {
			p(Progress{Phase: PhaseBackup, Files: ap.Files, FilesTotal: ap.FilesTotal, Bytes: ap.Bytes, BytesTotal: ap.BytesTotal, Path: ap.Path})
		}
	}
	root, st, err := archiver.Run(ctx, e.repo, saver, opts)
	if err != nil {
		saver.Abort()
		return nil, fmt.Errorf("backup of %s failed; no snapshot was written (data already uploaded stays unreferenced until a cleanup): %w", req.Target, err)
	}
	if p != nil {
		p(Progress{Phase: PhaseCommit, Files: st.Files, FilesTotal: st.Files, Bytes: st.Size, BytesTotal: st.Size})
	}
	ss, err := saver.Flush(ctx)
	if err != nil {
		return nil, fmt.Errorf("backup of %s failed while writing packs and index: %w", req.Target, err)
	}
	host := req.Host
	if host == "" {
		host, _ = os.Hostname()
	}
	name := req.Name
	if name == "" {
		t := req.Target
		if t == "" {
			t = "backup"
		}
		name = t + "-" + at.Local().Format("20060102-150405")
	}
	sn := &repo.Snapshot{
		Time: at.UTC(), Name: name, Type: req.Type, Target: req.Target, Paths: paths, Excludes: req.Exclude,
		Tags: req.Tags, Host: host, Tree: root, Files: st.Files, Dirs: st.Dirs, Size: st.Size,
		Added: ss.PackBytes + ss.IndexBytes, JobID: req.JobID, ToolVersion: ToolVersion,
	}
	if u, err := user.Current(); err == nil {
		sn.Username = u.Username
	}
	if parent != nil {
		sn.Parent = parent.ID.String()
	}
	if req.Retention > 0 {
		sn.ExpiresAt = at.Add(req.Retention).UTC()
	}
	sn.Duration = time.Since(start).Round(time.Millisecond)
	if err := e.repo.SaveSnapshot(ctx, sn); err != nil {
		return nil, fmt.Errorf("backup of %s: writing the snapshot: %w", req.Target, err)
	}
	added := sn.Added
	if info, err := e.be.Stat(ctx, "snapshots/"+sn.ID.String()); err == nil {
		added += info.Size
	}
	res := &BackupResult{
		Snapshot: infoOf(sn), FilesNew: st.FilesNew, FilesChanged: st.FilesChanged, FilesUnchanged: st.FilesUnchanged,
		BytesRead: st.BytesRead, BytesAdded: added, Duration: time.Since(start), Warnings: st.Warnings,
		BlobBytesNew: st.BytesNew,
	}
	if st.BytesNew > 0 {
		res.DedupRatio = float64(st.BytesRead) / float64(st.BytesNew)
	}
	if ss.BlobBytes > 0 {
		res.CompressionRatio = float64(ss.RawBytes) / float64(ss.BlobBytes)
	}
	return res, nil
}

// pickParent chooses the snapshot to compare with: the newest of the same
// target and paths (the newest full one for a differential backup).
func pickParent(all []*repo.Snapshot, typ, target string, paths []string) *repo.Snapshot {
	for _, sn := range all {
		if sn.Target != target || !slices.Equal(sn.Paths, paths) {
			continue
		}
		if typ == TypeDifferential && sn.Type != TypeFull {
			continue
		}
		return sn
	}
	return nil
}

// localDirs returns the repository's own directory when it is on this
// machine, so that a backup of a tree holding it does not back it up.
func (e *Engine) localDirs() []string {
	b := e.be
	for {
		if d, ok := b.(interface{ Dir() string }); ok {
			return []string{d.Dir()}
		}
		u, ok := b.(interface{ Unwrap() backend.Backend })
		if !ok {
			return nil
		}
		b = u.Unwrap()
	}
}
