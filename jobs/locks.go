package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/backupbot/backupbot/internal/tick"
	"github.com/backupbot/backupbot/policy/lock"
)

// Lock timing: a lease that is extended while the job runs, and lapses a
// few minutes after a crashed worker stops extending it.
const (
	lockTTL    = 5 * time.Minute
	lockExtend = time.Minute
)

// lockTarget takes the policy lock on one target of a storage for the
// job's work (restores and cleanups that write) and keeps it extended.
// The returned context is cancelled if the lock is lost; release frees it.
// Without Deps.Locks it does nothing. A conflicting holder makes the job
// fail at once, naming who holds the lock and since when.
func (w *Worker) lockTarget(ctx context.Context, j *Job, storageName, target string) (context.Context, func(), error) {
	if w.deps.Locks == nil {
		return ctx, func() {}, nil
	}
	lease, err := w.deps.Locks.Lock(ctx, lock.Key{Storage: storageName, Target: target},
		lock.Owner{Identity: j.Meta.Requester, JobID: j.Meta.JobID, Action: string(j.Command.Action())}, lockTTL)
	if errors.Is(err, lock.ErrLocked) {
		return ctx, nil, permanent(err)
	}
	if err != nil {
		return ctx, nil, fmt.Errorf("take the lock on %s: %w", target, err)
	}
	lctx, cancel := context.WithCancelCause(ctx)
	wait := tick.Go(lctx, lockExtend, nil, func() {
		if err := lease.Extend(lctx, lockTTL); errors.Is(err, lock.ErrLost) {
			cancel(err)
		} else if err != nil {
			j.Logger.Warn("could not extend the lock; trying again", "err", err)
		}
	})
	release := func() {
		cancel(nil)
		wait()
		if err := lease.Release(context.WithoutCancel(ctx)); err != nil {
			j.Logger.Warn("could not release the lock; it lapses by itself", "err", err, "ttl", lockTTL)
		}
	}
	return lctx, release, nil
}
