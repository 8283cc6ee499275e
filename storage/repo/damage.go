package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"time"

	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/crypto"
)

// Key prefixes of the objects that record damage (FORMAT.md, "Damage").
const (
	damagePrefix = "damage/"
	// QuarantinePrefix holds objects moved out of the way by verify --fix:
	// quarantine/<original key>. Nothing reads them; nothing deletes them.
	QuarantinePrefix = "quarantine/"
)

// BadBlob is one stored copy of a blob that failed its checks (or whose
// pack is gone): the blob in that pack must never be read or deduplicated
// onto again.
type BadBlob struct {
	ID   ID `json:"id"`
	Pack ID `json:"pack"`
}

// LostFile is one path of a snapshot whose data is gone, and why.
type LostFile struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// SnapshotDamage lists what a snapshot has lost for good.
type SnapshotDamage struct {
	Snapshot ID         `json:"snapshot"`
	Lost     []LostFile `json:"lost"`
}

// DamageRecord is one damage/<id> file: what a verify found damaged.
type DamageRecord struct {
	ID        ID               `json:"-"`
	Time      time.Time        `json:"time"`
	Blobs     []BadBlob        `json:"blobs,omitempty"`
	Snapshots []SnapshotDamage `json:"snapshots,omitempty"`
}

// Unreadable is a repository file that could not be read or failed its
// checks.
type Unreadable struct {
	Key string
	Err error
}

func (u Unreadable) String() string { return fmt.Sprintf("%s: %v", u.Key, u.Err) }

// skippable reports whether a load error means the file itself is damaged
// or gone (skip it and carry on) rather than the storage failing (stop).
func skippable(err error) bool {
	return errors.Is(err, ErrDamaged) || errors.Is(err, backend.ErrNotFound) || errors.Is(err, io.ErrUnexpectedEOF)
}

// SaveDamage writes a damage record and sets rec.ID.
func (r *Repository) SaveDamage(ctx context.Context, rec *DamageRecord) error {
	return r.saveJSONAs(ctx, damagePrefix, rec, &rec.ID)
}

// DeleteDamage removes a damage record (exclusive lock only).
func (r *Repository) DeleteDamage(ctx context.Context, id ID) error {
	return r.be.Delete(ctx, damagePrefix+id.String())
}

// DamageRecords reads every damage record; unreadable ones are returned
// apart.
func (r *Repository) DamageRecords(ctx context.Context) ([]*DamageRecord, []Unreadable, error) {
	ids, err := r.listIDs(ctx, damagePrefix)
	if err != nil {
		return nil, nil, err
	}
	var out []*DamageRecord
	var bad []Unreadable
	for _, id := range ids {
		var rec DamageRecord
		if err := r.loadJSON(ctx, damagePrefix, id, &rec); err != nil {
			if !skippable(err) {
				return nil, nil, err
			}
			bad = append(bad, Unreadable{Key: damagePrefix + id.String(), Err: err})
			continue
		}
		rec.ID = id
		out = append(out, &rec)
	}
	return out, bad, nil
}

// SnapshotLosses merges the damage records' lost files by snapshot.
func SnapshotLosses(recs []*DamageRecord) map[ID][]LostFile {
	out := map[ID][]LostFile{}
	for _, rec := range recs {
		for _, sd := range rec.Snapshots {
			for _, l := range sd.Lost {
				if !slices.ContainsFunc(out[sd.Snapshot], func(x LostFile) bool { return x.Path == l.Path }) {
					out[sd.Snapshot] = append(out[sd.Snapshot], l)
				}
			}
		}
	}
	for id := range out {
		slices.SortFunc(out[id], func(a, b LostFile) int {
			if a.Path < b.Path {
				return -1
			}
			if a.Path > b.Path {
				return 1
			}
			return 0
		})
	}
	return out
}

// Quarantine moves the object key to quarantine/<key>: it is copied there,
// then deleted. It returns the new key.
func (r *Repository) Quarantine(ctx context.Context, key string) (string, error) {
	dst := QuarantinePrefix + key
	buf, err := readAll(ctx, r.be, key)
	if err != nil {
		return "", fmt.Errorf("moving %s to quarantine: %w", key, err)
	}
	if err := r.be.Put(ctx, dst, bytes.NewReader(buf), int64(len(buf))); err != nil {
		return "", fmt.Errorf("moving %s to quarantine: %w", key, err)
	}
	if err := r.be.Delete(ctx, key); err != nil && !errors.Is(err, backend.ErrNotFound) {
		return "", fmt.Errorf("moving %s to quarantine: %w", key, err)
	}
	return dst, nil
}

// Quarantined lists the objects under quarantine/.
func (r *Repository) Quarantined(ctx context.Context) ([]backend.Info, error) {
	var out []backend.Info
	err := r.be.List(ctx, QuarantinePrefix, func(i backend.Info) error { out = append(out, i); return nil })
	return out, err
}

// StoredPacks lists the packs in the backend with their sizes.
func (r *Repository) StoredPacks(ctx context.Context) (map[ID]int64, error) {
	stored := map[ID]int64{}
	if err := r.be.List(ctx, dataPrefix, func(i backend.Info) error {
		if id, err := crypto.ParseID(path.Base(i.Key)); err == nil {
			stored[id] = i.Size
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("listing packs in %s: %w", r.be.Location(), err)
	}
	return stored, nil
}

// RecoverIndex reads the header of every stored pack the index does not
// list (once per pack) and indexes its blobs in memory, so data whose index
// file is damaged or missing can still be read. It returns the packs
// added; packs whose header is unreadable are returned apart.
func (r *Repository) RecoverIndex(ctx context.Context) ([]PackEntry, []Unreadable, error) {
	stored, err := r.StoredPacks(ctx)
	if err != nil {
		return nil, nil, err
	}
	indexed := r.Index.Packs()
	var added []PackEntry
	var bad []Unreadable
	for id, size := range stored {
		if _, ok := indexed[id]; ok {
			continue
		}
		r.Index.mu.Lock()
		tried := r.Index.headerTried[id]
		r.Index.headerTried[id] = true
		r.Index.mu.Unlock()
		if tried {
			continue
		}
		blobs, err := r.ReadPackHeader(ctx, id, size)
		if err != nil {
			if ctx.Err() != nil {
				return added, bad, ctx.Err()
			}
			bad = append(bad, Unreadable{Key: PackKey(id), Err: err})
			continue
		}
		pe := PackEntry{ID: id, Size: size, Blobs: blobs}
		r.Index.Add(pe)
		added = append(added, pe)
	}
	if len(added) > 0 {
		r.ForgetTrees()
	}
	return added, bad, nil
}

// ForgetTrees drops the cached tree blobs, so the next LoadTree reads
// through the (changed) index.
func (r *Repository) ForgetTrees() {
	r.trees.mu.Lock()
	r.trees.sealed = nil
	r.trees.mu.Unlock()
}
