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

	// A retry of a job takes over the lock its killed attempt left.
	lock, err := e.lockIndexed(ctx, "backup "+req.Target, req.JobID)
	if err != nil {
		return nil, err
	}
	defer e.unlock(ctx, lock)
	// Damaged or missing index files: the packs they listed are adopted
	// from their own headers below, like a killed backup's, and this
	// backup's index file lists them again (it heals the index).
	lostIndex := len(e.repo.Index.Skipped()) > 0 || len(e.repo.Index.Packs()) == 0
	if err := e.excludeGone(ctx); err != nil {
		return nil, err
	}
	all, bad, err := e.repo.LoadSnapshots(ctx)
	if err != nil {
		return nil, err
	}
	notices := append(unreadableNotices(bad), e.indexNotices()...)
	if req.JobID != "" {
		for _, sn := range all {
			if sn.JobID == req.JobID {
				e.log.Info("a snapshot for this job exists already", "job", req.JobID, "snapshot", sn.ID.Short())
				return &BackupResult{Snapshot: infoOf(sn), Reused: true}, nil
			}
		}
	}
	// Resume from the packs a killed backup left (see resume).
	adopted, ast, err := e.resume(ctx, lock, lostIndex)
	if err != nil {
		return nil, fmt.Errorf("backup of %s: looking for packs of an interrupted backup to resume from: %w", req.Target, err)
	}
	parent := pickParent(all, req.Type, req.Target, paths)
	for parent != nil {
		// A parent whose root listing is damaged or gone cannot be
		// compared with: take the one before it.
		if _, err := e.repo.LoadTree(ctx, parent.Tree); err == nil {
			break
		}
		e.log.Warn("the parent snapshot's listing cannot be read; comparing with an older one", "snapshot", parent.ID.Short())
		all = slices.DeleteFunc(all, func(s *repo.Snapshot) bool { return s == parent })
		parent = pickParent(all, req.Type, req.Target, paths)
	}
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
	saver.Adopt(adopted)
	opts := archiver.Options{
		Paths: paths, Excludes: req.Exclude, SkipPaths: e.localDirs(), ReadAll: req.Type == TypeFull,
		Compress: req.Compress, Logger: e.log,
	}
	if parent != nil {
		opts.Parent, opts.ParentFiles, opts.ParentBytes = parent.Tree, parent.Files, parent.Size
	}
	opts.Progress = p.phase(PhaseBackup)
	root, st, err := archiver.Run(ctx, e.repo, saver, opts)
	if err != nil {
		saver.Abort()
		if backend.IsPermanent(err) {
			return nil, fmt.Errorf("backup of %s failed; no snapshot was written%s: %w", req.Target, e.discard(ctx, saver), err)
		}
		return nil, fmt.Errorf("backup of %s failed; no snapshot was written%s: %w", req.Target, e.keep(ctx, saver), err)
	}
	if p != nil {
		p(Progress{Phase: PhaseCommit, Files: st.Files, FilesTotal: st.Files, Bytes: st.Size, BytesTotal: st.Size})
	}
	commitStart := time.Now()
	ss, err := saver.Flush(ctx)
	if err != nil {
		if backend.IsPermanent(err) {
			return nil, fmt.Errorf("backup of %s failed while writing packs and index%s: %w", req.Target, e.discard(ctx, saver), err)
		}
		return nil, fmt.Errorf("backup of %s failed while writing packs and index%s: %w", req.Target, e.keep(ctx, saver), err)
	}
	if lostIndex && ast.Packs > 0 && (len(e.repo.Index.Skipped()) > 0 || len(all) > 0) {
		notices = append(notices, fmt.Sprintf("indexed %d packs that no readable index file listed", ast.Packs))
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
		name = uniqueName(all, t+"-"+at.Local().Format("20060102-150405"))
	}
	sn := &repo.Snapshot{
		Time: at.UTC(), Name: name, Type: req.Type, Target: req.Target, Paths: paths, Excludes: req.Exclude,
		Tags: req.Tags, Host: host, Tree: root, Files: st.Files, Dirs: st.Dirs, Size: st.Size,
		Added: ss.PackBytes + ss.IndexBytes, JobID: req.JobID, ToolVersion: ToolVersion,
		Partial: st.SkippedCount > 0, Skipped: st.Skipped, SkippedCount: st.SkippedCount,
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
		if backend.IsPermanent(err) {
			return nil, fmt.Errorf("backup of %s: writing the snapshot%s: %w", req.Target, e.discard(ctx, saver), err)
		}
		return nil, fmt.Errorf("backup of %s: writing the snapshot: %w", req.Target, err)
	}
	added := sn.Added
	if info, err := e.be.Stat(ctx, "snapshots/"+sn.ID.String()); err == nil {
		added += info.Size
	}
	res := &BackupResult{
		Snapshot: infoOf(sn), FilesNew: st.FilesNew, FilesChanged: st.FilesChanged, FilesUnchanged: st.FilesUnchanged,
		BytesRead: st.BytesRead, BytesAdded: added, Duration: time.Since(start), Warnings: st.Warnings,
		BlobBytesNew: st.BytesNew, ResumedPacks: ast.Packs, ResumedBytes: ast.Bytes, Notices: notices,
	}
	res.Phases = []PhaseStat{
		{Name: "scan", Duration: st.ScanTime, Count: st.Files, Unit: "files", Bytes: st.Size},
		{Name: "read", Duration: st.ReadTime, Count: st.FilesRead, Unit: "files", Bytes: st.BytesRead},
		{Name: "chunk", Duration: st.ChunkTime, Count: st.Chunks, Unit: "chunks", Bytes: st.BytesRead},
		{Name: "compress", Duration: ss.CompressTime, Count: ss.Compressed, Unit: "blobs"},
		{Name: "encrypt", Duration: ss.EncryptTime, Count: ss.Blobs, Unit: "blobs", Bytes: ss.BlobBytes},
		{Name: "upload", Duration: ss.UploadTime, Count: ss.Packs, Unit: "packs", Bytes: ss.PackBytes},
		{Name: "commit", Duration: time.Since(commitStart), Count: 1, Unit: "snapshot", Bytes: ss.IndexBytes},
	}
	if st.BytesNew > 0 {
		res.DedupRatio = float64(st.BytesRead) / float64(st.BytesNew)
	}
	if ss.BlobBytes > 0 {
		res.CompressionRatio = float64(ss.RawBytes) / float64(ss.BlobBytes)
	}
	return res, nil
}

// discard removes what a backup that failed for good uploaded (see
// repo.Saver.Discard) and says so for the error message.
func (e *Engine) discard(ctx context.Context, saver *repo.Saver) string {
	n, err := saver.Discard(context.WithoutCancel(ctx))
	if err != nil {
		e.log.Warn("could not remove all the packs of a failed backup; a cleanup removes them", "removed", n, "err", err)
		return fmt.Sprintf(" (it removed %d of the packs it had uploaded; removing the rest failed too, a cleanup removes them)", n)
	}
	if n == 0 {
		return ""
	}
	e.log.Info("removed the packs of a backup that failed for good", "packs", n)
	if n == 1 {
		return " and the pack it had uploaded was removed"
	}
	return fmt.Sprintf(" and the %d packs it had uploaded were removed", n)
}

// keep indexes what a backup that stopped short stored (see
// repo.Saver.IndexStored) and says so for the error message.
func (e *Engine) keep(ctx context.Context, saver *repo.Saver) string {
	saver.Abort()
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	n, err := saver.IndexStored(kctx)
	switch {
	case err != nil:
		e.log.Warn("could not index the packs of an interrupted backup; verify --fix indexes them", "err", err)
		return " (indexing the data it stored failed too; verify --fix indexes it)"
	case n == 0:
		return ""
	case n == 1:
		return " (the pack it stored is indexed: the next backup reuses it)"
	}
	return fmt.Sprintf(" (the %d packs it stored are indexed: the next backup reuses them)", n)
}

// resume adopts the packs a killed writer uploaded but never indexed, so
// that this writer deduplicates onto them instead of uploading them again
// and its index file lists them. (A writer that stops short while its
// process lives indexes what it stored: keep.) A killed one leaves its
// lock behind: look for its packs (a listing of every pack) only then, or
// when index files are lost. Their packs adopted (none held back for a
// live writer), the locks of holders provably gone (on this host) go too,
// instead of waiting for verify --fix.
func (e *Engine) resume(ctx context.Context, lock *repo.Lock, lostIndex bool) ([]repo.PackEntry, repo.AdoptStats, error) {
	var adopted []repo.PackEntry
	var ast repo.AdoptStats
	looked := lock.TookOver() > 0 || lostIndex || e.staleLocks(ctx)
	if !looked {
		return nil, ast, nil
	}
	adopted, ast, err := e.repo.AdoptUnindexed(ctx, lock)
	if err != nil {
		return nil, ast, err
	}
	if ast.Packs > 0 || ast.Skipped > 0 {
		e.log.Info("resuming from packs an interrupted writer left", "packs", ast.Packs, "bytes", ast.Bytes,
			"blobs", ast.Blobs, "skipped", ast.Skipped)
	}
	if ast.Skipped == 0 {
		if removed, err := e.repo.RemoveDeadLocks(ctx); err != nil {
			e.log.Warn("could not remove the lock of a process that is gone", "err", err)
		} else {
			for _, l := range removed {
				e.log.Info("removed the lock of a process that is gone", "lock", l.String())
			}
		}
	}
	return adopted, ast, nil
}

// staleLocks reports whether a lock of a writer that is gone is left,
// a sign that a backup was killed midway.
func (e *Engine) staleLocks(ctx context.Context) bool {
	locks, err := e.repo.Locks(ctx)
	if err != nil {
		return false
	}
	for _, l := range locks {
		if l.Stale {
			return true
		}
	}
	return false
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

// uniqueName is base, or base-2, base-3… when a backup already has that
// name: an automatic name picks out one backup, even when two backups of
// a target start in the same second.
func uniqueName(all []*repo.Snapshot, base string) string {
	taken := make(map[string]bool, len(all))
	for _, s := range all {
		taken[s.Name] = true
	}
	name := base
	for i := 2; taken[name]; i++ {
		name = fmt.Sprintf("%s-%d", base, i)
	}
	return name
}
