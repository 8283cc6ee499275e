package repo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/backupbot/backupbot/storage/backend"
)

// ErrLocked means another process holds a lock that conflicts.
var ErrLocked = errors.New("repository is locked")

// Lock timing: a holder refreshes its lock every LockRefresh; a lock not
// refreshed for LockStaleAfter belongs to a holder that is gone.
const (
	LockRefresh    = 5 * time.Minute
	LockStaleAfter = 30 * time.Minute
)

type lockFile struct {
	Time      time.Time `json:"time"`
	Exclusive bool      `json:"exclusive"`
	// Prune marks a prune's lock: shared with backups, restores and
	// checks, exclusive against other prunes.
	Prune bool   `json:"prune,omitempty"`
	Host  string `json:"host"`
	PID   int    `json:"pid"`
	Op    string `json:"op"`
}

// LockInfo describes a lock found in the repository.
type LockInfo struct {
	ID        ID        `json:"id"`
	Time      time.Time `json:"time"`
	Exclusive bool      `json:"exclusive"`
	Prune     bool      `json:"prune,omitempty"`
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	Op        string    `json:"op"`
	// Stale is set when the holder is gone: its process is not running on
	// this host, or it has not refreshed the lock for LockStaleAfter.
	Stale  bool   `json:"stale"`
	Reason string `json:"reason,omitempty"`
}

func (l LockInfo) String() string {
	kind := "shared"
	if l.Prune {
		kind = "prune"
	}
	if l.Exclusive {
		kind = "exclusive"
	}
	s := fmt.Sprintf("%s lock %s by %q (pid %d on %s) since %s", kind, l.ID.Short(), l.Op, l.PID, l.Host, l.Time.Local().Format(time.DateTime))
	if l.Stale {
		s += " [stale: " + l.Reason + "]"
	}
	return s
}

// Locks lists the locks in the repository and says which are stale.
func (r *Repository) Locks(ctx context.Context) ([]LockInfo, error) {
	ids, err := r.listIDs(ctx, locksPrefix)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	var out []LockInfo
	for _, id := range ids {
		var lf lockFile
		err := r.loadJSON(ctx, locksPrefix, id, &lf)
		if errors.Is(err, backend.ErrNotFound) {
			continue // released meanwhile
		}
		if err != nil {
			out = append(out, LockInfo{ID: id, Stale: true, Reason: "unreadable: " + err.Error()})
			continue
		}
		li := LockInfo{ID: id, Time: lf.Time, Exclusive: lf.Exclusive, Prune: lf.Prune, Host: lf.Host, PID: lf.PID, Op: lf.Op}
		switch {
		case lf.Host == host && lf.PID > 0 && !processAlive(lf.PID):
			li.Stale, li.Reason = true, "its process is no longer running"
		case time.Since(lf.Time) > LockStaleAfter:
			li.Stale, li.Reason = true, fmt.Sprintf("not refreshed for %s", time.Since(lf.Time).Round(time.Minute))
		}
		out = append(out, li)
	}
	return out, nil
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Lock is a held repository lock.
type Lock struct {
	r         *Repository
	exclusive bool
	file      lockFile

	mu   sync.Mutex
	id   ID
	stop chan struct{}
	done chan struct{}
}

// Lock takes a shared lock (exclusive=false: backups, restores, checks) or
// an exclusive one (anything that deletes). Stale locks never block; a live
// conflicting lock gives an error wrapping ErrLocked that names its holder.
func (r *Repository) Lock(ctx context.Context, exclusive bool, op string) (*Lock, error) {
	return r.lock(ctx, lockFile{Exclusive: exclusive, Op: op})
}

// LockPrune takes a prune's lock: it lets backups, restores and checks
// run, and conflicts only with another prune or an exclusive lock.
func (r *Repository) LockPrune(ctx context.Context, op string) (*Lock, error) {
	return r.lock(ctx, lockFile{Prune: true, Op: op})
}

func (r *Repository) lock(ctx context.Context, lf lockFile) (*Lock, error) {
	exclusive := lf.Exclusive
	if err := r.lockConflict(ctx, lf, ID{}); err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	lf.Time, lf.Host, lf.PID = time.Now().UTC(), host, os.Getpid()
	l := &Lock{r: r, exclusive: exclusive, file: lf}
	id, err := r.saveJSON(ctx, locksPrefix, l.file)
	if err != nil {
		return nil, fmt.Errorf("taking a lock: %w", err)
	}
	l.id = id
	// Someone may have locked between our check and our write: check again.
	if err := r.lockConflict(ctx, lf, id); err != nil {
		_ = r.be.Delete(context.WithoutCancel(ctx), locksPrefix+id.String())
		return nil, err
	}
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go l.refresh()
	return l, nil
}

func (r *Repository) lockConflict(ctx context.Context, lf lockFile, own ID) error {
	locks, err := r.Locks(ctx)
	if err != nil {
		return fmt.Errorf("checking locks: %w", err)
	}
	for _, li := range locks {
		if li.ID == own {
			continue
		}
		if li.Stale {
			r.log.Warn("ignoring a stale lock", "lock", li.String())
			continue
		}
		if lf.Exclusive || li.Exclusive || (lf.Prune && li.Prune) {
			return fmt.Errorf("%w: %s; wait for it to finish (a stale lock of a crashed process is ignored after %s, or broken with verify --fix)",
				ErrLocked, li, LockStaleAfter)
		}
	}
	return nil
}

func (l *Lock) refresh() {
	defer close(l.done)
	t := time.NewTicker(LockRefresh)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.file.Time = time.Now().UTC()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			id, err := l.r.saveJSON(ctx, locksPrefix, l.file)
			if err == nil {
				l.mu.Lock()
				old := l.id
				l.id = id
				l.mu.Unlock()
				_ = l.r.be.Delete(ctx, locksPrefix+old.String())
			} else {
				l.r.log.Warn("could not refresh the repository lock", "err", err)
			}
			cancel()
		}
	}
}

// ID is the lock file's current ID (it changes when the lock is refreshed).
func (l *Lock) ID() ID {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.id
}

// Unlock releases the lock.
func (l *Lock) Unlock(ctx context.Context) error {
	if l == nil {
		return nil
	}
	close(l.stop)
	<-l.done
	l.mu.Lock()
	id := l.id
	l.mu.Unlock()
	if err := l.r.be.Delete(context.WithoutCancel(ctx), locksPrefix+id.String()); err != nil && !errors.Is(err, backend.ErrNotFound) {
		return fmt.Errorf("releasing the lock: %w", err)
	}
	return nil
}

// BreakLocks deletes stale locks (or, with all, every lock) and returns
// what it removed. Breaking a live lock can corrupt a running prune: only
// do it when the holder is known to be gone.
func (r *Repository) BreakLocks(ctx context.Context, all bool) ([]LockInfo, error) {
	locks, err := r.Locks(ctx)
	if err != nil {
		return nil, err
	}
	var removed []LockInfo
	for _, li := range locks {
		if !li.Stale && !all {
			continue
		}
		if err := r.be.Delete(ctx, locksPrefix+li.ID.String()); err != nil && !errors.Is(err, backend.ErrNotFound) {
			return removed, fmt.Errorf("breaking %s: %w", li, err)
		}
		removed = append(removed, li)
	}
	return removed, nil
}
