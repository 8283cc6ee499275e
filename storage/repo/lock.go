package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
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

// lockHolder says who holds a lock and how: a lock file records it, and
// LockInfo reports it.
type lockHolder struct {
	Time      time.Time `json:"time"`
	Exclusive bool      `json:"exclusive"`
	// Prune marks a prune's lock: shared with backups, restores and
	// checks, exclusive against other prunes.
	Prune bool   `json:"prune,omitempty"`
	Host  string `json:"host"`
	PID   int    `json:"pid"`
	Op    string `json:"op"`
	// Job is the job (and target) the lock was taken for: a retry of the
	// same job takes the lock of an attempt that died over.
	Job string `json:"job,omitempty"`
}

type lockFile struct {
	lockHolder
	// Started is when the holder first locked (its own clock); StoredAt
	// the storage's modification time of its first lock file (the
	// storage's clock), carried over by refreshes. Resume compares pack
	// times with them (see resume.go).
	Started  time.Time `json:"started,omitzero"`
	StoredAt time.Time `json:"stored_at,omitzero"`
	// Boot and ProcStart identify the holder's process beyond its PID
	// (Linux: the kernel's boot id and the process's start time), so a
	// PID reused after a crash or a restarted container's PID 1 is not
	// mistaken for the holder.
	Boot      string `json:"boot,omitempty"`
	ProcStart string `json:"proc_start,omitempty"`
}

// LockInfo describes a lock found in the repository.
type LockInfo struct {
	ID ID `json:"id"`
	lockHolder
	// Stale is set when the holder is gone: its process is not running on
	// this host, or it has not refreshed the lock for LockStaleAfter.
	Stale  bool   `json:"stale"`
	Reason string `json:"reason,omitempty"`
	// Dead is set when the holder is provably gone (its process on this
	// host is not running, or runs no more since a restart), not only
	// silent for a while: its lock can be removed safely by anyone.
	Dead bool `json:"dead,omitempty"`
}

func (l LockInfo) String() string {
	kind := "shared"
	if l.Exclusive {
		kind = "exclusive"
	}
	if l.Prune {
		kind = "prune"
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
		li := LockInfo{ID: id, lockHolder: lf.lockHolder}
		li.Stale, li.Dead, li.Reason = staleness(lf, host)
		out = append(out, li)
	}
	return out, nil
}

// staleness says whether a lock's holder is gone, whether that is
// proven (dead) rather than presumed from its silence, and why.
func staleness(lf lockFile, host string) (stale, dead bool, why string) {
	if lf.Host == host && lf.PID > 0 {
		switch {
		case !processAlive(lf.PID):
			return true, true, "its process is no longer running"
		case lf.Boot != "" && bootID() != "" && lf.Boot != bootID():
			return true, true, "this machine has restarted since it was taken"
		case lf.ProcStart != "" && procStart(lf.PID) != "" && procStart(lf.PID) != lf.ProcStart:
			return true, true, fmt.Sprintf("its process is no longer running (pid %d now belongs to another process)", lf.PID)
		}
	}
	if age := time.Since(lf.Time); age > LockStaleAfter {
		return true, false, fmt.Sprintf("not refreshed for %s", age.Round(time.Minute))
	}
	return false, false, ""
}

// RemoveDeadLocks deletes the locks whose holders are provably gone (see
// LockInfo.Dead) and returns them. Locks only presumed stale (not
// refreshed for LockStaleAfter, perhaps a holder cut off from the storage)
// are left to verify --fix.
func (r *Repository) RemoveDeadLocks(ctx context.Context) ([]LockInfo, error) {
	locks, err := r.Locks(ctx)
	if err != nil {
		return nil, err
	}
	var removed []LockInfo
	for _, li := range locks {
		if !li.Dead {
			continue
		}
		if err := r.be.Delete(ctx, locksPrefix+li.ID.String()); err != nil && !errors.Is(err, backend.ErrNotFound) {
			return removed, fmt.Errorf("removing %s: %w", li, err)
		}
		removed = append(removed, li)
	}
	return removed, nil
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

	// tookOver counts the locks of earlier attempts of the same job
	// LockJob removed: evidence of an interrupted backup to resume from.
	tookOver int

	mu   sync.Mutex
	id   ID
	stop chan struct{}
	done chan struct{}
}

// Lock takes a shared lock (exclusive=false: backups, restores, checks) or
// an exclusive one (anything that deletes). Stale locks never block; a live
// conflicting lock gives an error wrapping ErrLocked that names its holder.
func (r *Repository) Lock(ctx context.Context, exclusive bool, op string) (*Lock, error) {
	return r.LockJob(ctx, exclusive, op, "")
}

// LockJob is Lock for one job. When job is set, locks an earlier attempt
// of the same job left behind are removed first: the job queue hands a
// job to a new attempt only once the previous one has died or stopped, so
// such a lock has no live holder, wherever it was taken (another host,
// a restarted container), and must not linger until it goes stale.
func (r *Repository) LockJob(ctx context.Context, exclusive bool, op, job string) (*Lock, error) {
	return r.lock(ctx, lockHolder{Exclusive: exclusive, Op: op, Job: job})
}

// LockPrune takes a prune's lock: it lets backups, restores and checks
// run, and conflicts only with another prune or an exclusive lock.
func (r *Repository) LockPrune(ctx context.Context, op string) (*Lock, error) {
	return r.lock(ctx, lockHolder{Prune: true, Op: op})
}

func (r *Repository) lock(ctx context.Context, h lockHolder) (*Lock, error) {
	tookOver := 0
	if h.Job != "" {
		n, err := r.takeOver(ctx, h.Job)
		if err != nil {
			return nil, err
		}
		tookOver = n
	}
	if err := r.lockConflict(ctx, h, ID{}); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	h.Time, h.PID = now, os.Getpid()
	h.Host, _ = os.Hostname()
	lf := lockFile{lockHolder: h, Started: now, Boot: bootID(), ProcStart: procStart(h.PID)}
	l := &Lock{r: r, exclusive: h.Exclusive, tookOver: tookOver, file: lf}
	id, err := r.saveJSON(ctx, locksPrefix, l.file)
	if err != nil {
		return nil, fmt.Errorf("taking a lock: %w", err)
	}
	l.id = id
	// The storage's time of the first lock file goes into every refresh,
	// so resuming backups can tell this holder's packs by the storage's
	// own clock.
	if info, err := r.be.Stat(ctx, locksPrefix+id.String()); err == nil {
		l.file.StoredAt = info.ModTime.UTC()
	}
	// Someone may have locked between our check and our write: check again.
	if err := r.lockConflict(ctx, h, id); err != nil {
		_ = r.be.Delete(context.WithoutCancel(ctx), locksPrefix+id.String())
		return nil, err
	}
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go l.refresh()
	return l, nil
}

func (r *Repository) lockConflict(ctx context.Context, h lockHolder, own ID) error {
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
		if h.Exclusive || li.Exclusive || (h.Prune && li.Prune) {
			return fmt.Errorf("%w: %s; wait for it to finish (a stale lock of a crashed process is ignored after %s, or broken with verify --fix)",
				ErrLocked, li, LockStaleAfter)
		}
	}
	return nil
}

// ID returns the lock file's current ID.
func (l *Lock) ID() ID {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.id
}

// TookOver reports how many locks of earlier attempts of the same job
// LockJob removed.
func (l *Lock) TookOver() int { return l.tookOver }

// takeOver removes the locks of earlier attempts of job.
func (r *Repository) takeOver(ctx context.Context, job string) (int, error) {
	locks, err := r.Locks(ctx)
	if err != nil {
		return 0, fmt.Errorf("checking locks: %w", err)
	}
	n := 0
	for _, li := range locks {
		if li.Job != job {
			continue
		}
		if err := r.be.Delete(ctx, locksPrefix+li.ID.String()); err != nil && !errors.Is(err, backend.ErrNotFound) {
			return n, fmt.Errorf("removing the lock an earlier attempt of this job left (%s): %w", li, err)
		}
		n++
		r.log.Info("took over the lock of an earlier attempt of this job", "lock", li.String())
	}
	return n, nil
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

// bootID identifies this boot of the machine (Linux); "" elsewhere.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// procStart is the start time of process pid in clock ticks since boot
// (Linux: field 22 of /proc/PID/stat); "" when unknown.
func procStart(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); field 22 is f[19].
	if len(f) < 20 {
		return ""
	}
	return f[19]
}
