package repo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/crypto"
)

// Resume: a backup that was killed (or lost its storage) after uploading
// packs but before writing its index leaves those packs in data/ with no
// index file listing them. The next backup adopts them: it reads each such
// pack's own header (one small ranged read per pack), adds the blobs to the
// in-memory index so the archiver deduplicates onto them instead of
// uploading them again, and lists them in the index file it writes at the
// end. Adopting only adds index entries; it never writes or deletes a pack,
// so it is safe next to any other backup.
//
// A pack another backup is uploading right now is not adopted: that
// backup may still fail for good and delete what it uploaded (see
// Saver.Discard). A live lock's holder writes its lock before its first
// pack, so packs stored at least adoptSlack before the holder's first lock
// file (by the storage's own clock) cannot be its own; younger packs are
// left alone while a live lock other than the caller's exists.

// adoptSlack absorbs the storage's timestamp granularity (one second on
// S3) and the time a lock takes to be listed.
const adoptSlack = time.Minute

// clockSkew bounds the difference between a worker's clock and the
// storage's, for locks that carry only the holder's own time. S3 and Azure
// refuse requests signed more than 15 minutes off, so a worker that can
// write is never further off than that.
const clockSkew = 15 * time.Minute

// AdoptStats says what AdoptUnindexed found.
type AdoptStats struct {
	// Packs and Bytes are the packs adopted.
	Packs int
	Bytes int64
	Blobs int
	// Skipped counts unindexed packs left alone: possibly still being
	// written by a live backup, or with a header that does not open.
	Skipped int
}

// AdoptUnindexed finds packs that no index file lists and that no live
// writer can still own, checks their headers, and adds their blobs to the
// in-memory index. It returns the adopted packs, which the caller lists in
// its index file (Saver.Adopt) so they stay part of the repository. own is
// the caller's lock (never counted as a foreign writer). Call it after
// LoadIndex, under a lock.
func (r *Repository) AdoptUnindexed(ctx context.Context, own *Lock) ([]PackEntry, AdoptStats, error) {
	var st AdoptStats
	indexed := r.Index.Packs()
	// Packs first, locks second: a pack listed here was stored by a
	// writer whose lock was written before it, so that lock (if its
	// holder is still live) shows up in the listing that follows.
	type candidate struct {
		id      ID
		size    int64
		modTime time.Time
	}
	var cands []candidate
	if err := r.be.List(ctx, dataPrefix, func(i backend.Info) error {
		id, err := crypto.ParseID(path.Base(i.Key))
		if err != nil {
			return nil
		}
		// A prune candidate is on its way out: not adopted.
		if _, ok := indexed[id]; !ok && !r.Index.Hidden(id) {
			cands = append(cands, candidate{id, i.Size, i.ModTime})
		}
		return nil
	}); err != nil {
		return nil, st, fmt.Errorf("listing packs to resume from: %w", err)
	}
	if len(cands) == 0 {
		return nil, st, nil
	}
	var ownID ID
	if own != nil {
		ownID = own.ID()
	}
	cutoff, live, err := r.liveWritersSince(ctx, ownID)
	if err != nil {
		return nil, st, err
	}
	var mu sync.Mutex
	var adopted []PackEntry
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, c := range cands {
		if live && !c.modTime.Before(cutoff) {
			st.Skipped++
			continue
		}
		g.Go(func() error {
			blobs, err := r.ReadPackHeader(gctx, c.id, c.size)
			if err != nil {
				if gctx.Err() != nil {
					return gctx.Err()
				}
				mu.Lock()
				st.Skipped++
				mu.Unlock()
				if !errors.Is(err, backend.ErrNotFound) { // deleted meanwhile: nothing to say
					r.log.Warn("not resuming from an unindexed pack whose header does not open", "pack", c.id.Short(), "err", err)
				}
				return nil
			}
			if len(blobs) == 0 {
				return nil
			}
			pe := PackEntry{ID: c.id, Size: c.size, Blobs: blobs}
			mu.Lock()
			adopted = append(adopted, pe)
			st.Packs++
			st.Bytes += c.size
			st.Blobs += len(blobs)
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, st, err
	}
	for _, pe := range adopted {
		r.Index.Add(pe)
	}
	return adopted, st, nil
}

// liveWritersSince returns the earliest moment, on the storage's clock,
// from which a live lock other than own may have stored packs (minus
// adoptSlack), and whether there is any such lock at all. A live lock
// whose start cannot be placed yields the zero time: nothing is adopted.
func (r *Repository) liveWritersSince(ctx context.Context, own ID) (time.Time, bool, error) {
	stored := map[ID]time.Time{}
	if err := r.be.List(ctx, locksPrefix, func(i backend.Info) error {
		if id, err := crypto.ParseID(i.Key[len(locksPrefix):]); err == nil {
			stored[id] = i.ModTime
		}
		return nil
	}); err != nil {
		return time.Time{}, false, fmt.Errorf("listing locks: %w", err)
	}
	host, _ := os.Hostname()
	var cutoff time.Time
	live := false
	for id, modTime := range stored {
		if id == own {
			continue
		}
		var lf lockFile
		err := r.loadJSON(ctx, locksPrefix, id, &lf)
		if errors.Is(err, backend.ErrNotFound) {
			continue // released meanwhile
		}
		if err != nil {
			// An unreadable lock is stale for everyone else; it names no
			// writer, so it holds nothing back here either.
			continue
		}
		if stale, _, _ := staleness(lf, host); stale {
			continue
		}
		var start time.Time
		switch {
		case !lf.StoredAt.IsZero():
			start = lf.StoredAt
		case !lf.Started.IsZero() && lf.Started.Equal(lf.Time) && !modTime.IsZero():
			start = modTime // its first lock file: the storage's time of it
		case !lf.Started.IsZero():
			start = lf.Started.Add(-clockSkew)
		}
		start = start.Add(-adoptSlack)
		if lf.Started.IsZero() {
			start = time.Time{} // an older writer: do not guess
		}
		if !live || start.Before(cutoff) {
			cutoff = start
		}
		live = true
	}
	return cutoff, live, nil
}
