package repo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/backupbot/backupbot/storage/backend"
)

// Snapshot is one backup: the root tree and what describes it.
type Snapshot struct {
	ID          ID                `json:"-"`
	Time        time.Time         `json:"time"`
	Name        string            `json:"name"`
	Type        string            `json:"type"`
	Target      string            `json:"target,omitempty"`
	Paths       []string          `json:"paths"`
	Excludes    []string          `json:"excludes,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Host        string            `json:"host"`
	Username    string            `json:"username,omitempty"`
	Tree        ID                `json:"tree"`
	Parent      string            `json:"parent,omitempty"`
	Files       int64             `json:"files"`
	Dirs        int64             `json:"dirs"`
	Size        int64             `json:"size"`
	Added       int64             `json:"added"`
	Duration    time.Duration     `json:"duration"`
	JobID       string            `json:"job_id,omitempty"`
	ToolVersion string            `json:"tool_version"`
	ExpiresAt   time.Time         `json:"expires_at,omitzero"`
	// Partial says the backup could not read everything under its paths
	// (since format version 2). Skipped names what it left out, at most
	// MaxSkipped entries; SkippedCount counts all of them.
	Partial      bool          `json:"partial,omitempty"`
	Skipped      []SkippedPath `json:"skipped,omitempty"`
	SkippedCount int64         `json:"skipped_count,omitempty"`
	// Origin is set on a snapshot copied from another repository (since
	// format version 2, optional): where the snapshot it copies lives.
	Origin *Origin `json:"origin,omitempty"`
}

// Origin says which snapshot of which repository a copied snapshot
// copies (see FORMAT.md, "Copies").
type Origin struct {
	// Snapshot is the source snapshot's ID in its repository.
	Snapshot string `json:"snapshot"`
	// Repository is the source repository's ID (its config "id").
	Repository string `json:"repository"`
	// Storage is the configured name of the source storage, for people.
	Storage string `json:"storage,omitempty"`
	// Time is when the copy was made.
	Time time.Time `json:"time"`
}

// MaxSkipped bounds the skipped paths a snapshot names.
const MaxSkipped = 1000

// SkippedPath is a file or directory a backup could not read, and why.
type SkippedPath struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

// SaveSnapshot writes a snapshot file and sets sn.ID. Write it only after
// every pack and index it depends on.
func (r *Repository) SaveSnapshot(ctx context.Context, sn *Snapshot) error {
	return r.saveJSONAs(ctx, snapshotPrefix, sn, &sn.ID)
}

// LoadSnapshot reads one snapshot file.
func (r *Repository) LoadSnapshot(ctx context.Context, id ID) (*Snapshot, error) {
	var sn Snapshot
	if err := r.loadJSON(ctx, snapshotPrefix, id, &sn); err != nil {
		return nil, fmt.Errorf("loading snapshot %s: %w", id.Short(), err)
	}
	sn.ID = id
	return &sn, nil
}

// SnapshotIDs lists the snapshot files.
func (r *Repository) SnapshotIDs(ctx context.Context) ([]ID, error) {
	return r.listIDs(ctx, snapshotPrefix)
}

// Snapshots loads every readable snapshot, newest first. A snapshot file
// that is damaged or gone is skipped with a warning in the log; use
// LoadSnapshots to learn which.
func (r *Repository) Snapshots(ctx context.Context) ([]*Snapshot, error) {
	snaps, bad, err := r.LoadSnapshots(ctx)
	for _, u := range bad {
		r.log.Warn("skipping an unreadable snapshot file (verify --fix moves it to quarantine/)", "file", u.Key, "err", u.Err)
	}
	return snaps, err
}

// LoadSnapshots loads every snapshot, newest first, and returns the
// snapshot files that are damaged or gone apart: damage in one snapshot
// file costs only that snapshot. Only a storage failure is an error.
func (r *Repository) LoadSnapshots(ctx context.Context) ([]*Snapshot, []Unreadable, error) {
	ids, infos, err := r.listFiles(ctx, snapshotPrefix)
	if err != nil {
		return nil, nil, err
	}
	out := make([]*Snapshot, len(ids))
	errs := make([]error, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, id := range ids {
		ck := fileKey{repo: r.cfg.ID, id: id, size: infos[i].Size, modTime: infos[i].ModTime}
		if sn, ok := r.cache.snapshot(ck); ok {
			out[i] = sn
			continue
		}
		g.Go(func() error {
			sn, err := r.LoadSnapshot(gctx, id)
			if err == nil {
				r.cache.keepSnapshot(ck, sn)
			}
			if err != nil {
				if !skippable(err) {
					return fmt.Errorf("%w (verify names damaged snapshots)", err)
				}
				errs[i] = err
				return nil
			}
			out[i] = sn
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	var bad []Unreadable
	snaps := out[:0]
	for i, sn := range out {
		switch {
		case sn != nil:
			snaps = append(snaps, sn)
		case errors.Is(errs[i], backend.ErrNotFound):
			// deleted since the listing (a cleanup): not damage
		default:
			bad = append(bad, Unreadable{Key: snapshotPrefix + ids[i].String(), Err: errs[i]})
		}
	}
	SortNewestFirst(snaps)
	return snaps, bad, nil
}

// SnapshotKey is the backend key of a snapshot file.
func SnapshotKey(id ID) string { return snapshotPrefix + id.String() }

// IndexKey is the backend key of an index file.
func IndexKey(id ID) string { return indexPrefix + id.String() }

// SortNewestFirst orders snapshots by time, newest first (ties by ID).
func SortNewestFirst(s []*Snapshot) {
	slices.SortFunc(s, func(a, b *Snapshot) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return slices.Compare(b.ID[:], a.ID[:])
	})
}

// DeleteSnapshot removes a snapshot file (exclusive lock only).
func (r *Repository) DeleteSnapshot(ctx context.Context, id ID) error {
	return r.be.Delete(ctx, snapshotPrefix+id.String())
}
