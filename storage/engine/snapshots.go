package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/backupbot/backupbot/storage/crypto"
	"github.com/backupbot/backupbot/storage/repo"
)

func infoOf(sn *repo.Snapshot) SnapshotInfo {
	return SnapshotInfo{
		ID: sn.ID.String(), Name: sn.Name, Type: sn.Type, Target: sn.Target, Paths: sn.Paths, Tags: sn.Tags,
		Host: sn.Host, Time: sn.Time, Parent: sn.Parent, Files: sn.Files, Dirs: sn.Dirs, Size: sn.Size,
		Added: sn.Added, Duration: sn.Duration, JobID: sn.JobID, ToolVersion: sn.ToolVersion, ExpiresAt: sn.ExpiresAt,
		Partial: sn.Partial, Skipped: sn.Skipped, SkippedCount: sn.SkippedCount, Origin: sn.Origin,
	}
}

func (f SnapshotFilter) match(sn *repo.Snapshot) bool {
	return (f.Name == "" || sn.Name == f.Name) && (f.Type == "" || sn.Type == f.Type) &&
		(f.Target == "" || sn.Target == f.Target) && (f.NewerThan.IsZero() || sn.Time.After(f.NewerThan))
}

// Snapshots lists the snapshots matching f, newest first, skipping
// snapshot files that cannot be read (List names them).
func (e *Engine) Snapshots(ctx context.Context, f SnapshotFilter) ([]SnapshotInfo, error) {
	l, err := e.List(ctx, ListRequest{Filter: f})
	if err != nil {
		return nil, err
	}
	return l.Snapshots, nil
}

// Find resolves a snapshot reference: "latest" (or ""), a name (the newest
// snapshot with it), a full ID or a unique ID prefix.
func (e *Engine) Find(ctx context.Context, ref string) (SnapshotInfo, error) {
	all, err := e.repo.Snapshots(ctx)
	if err != nil {
		return SnapshotInfo{}, err
	}
	sn, err := resolve(all, ref)
	if err != nil {
		return SnapshotInfo{}, err
	}
	return infoOf(sn), nil
}

// resolve picks one snapshot of a newest-first list by reference.
func resolve(all []*repo.Snapshot, ref string) (*repo.Snapshot, error) {
	if len(all) == 0 {
		if ref == "" || ref == "latest" {
			return nil, fmt.Errorf("the repository has no snapshots yet: %w", ErrSnapshotNotFound)
		}
		return nil, fmt.Errorf("no snapshot %q: the repository has no snapshots that match: %w", ref, ErrSnapshotNotFound)
	}
	if ref == "" || ref == "latest" {
		return all[0], nil
	}
	for _, sn := range all {
		if sn.Name == ref {
			return sn, nil
		}
	}
	if id, err := crypto.ParseID(ref); err == nil {
		for _, sn := range all {
			if sn.ID == id {
				return sn, nil
			}
		}
	}
	if len(ref) >= 4 && isHex(ref) {
		var found *repo.Snapshot
		for _, sn := range all {
			if strings.HasPrefix(sn.ID.String(), strings.ToLower(ref)) {
				if found != nil {
					return nil, fmt.Errorf("snapshot ID prefix %q is ambiguous (%s, %s, ...): give more digits", ref, found.ID.Short(), sn.ID.Short())
				}
				found = sn
			}
		}
		if found != nil {
			return found, nil
		}
	}
	return nil, fmt.Errorf("no snapshot named %q or with that ID: %w", ref, ErrSnapshotNotFound)
}

func isHex(s string) bool {
	for _, c := range strings.ToLower(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
