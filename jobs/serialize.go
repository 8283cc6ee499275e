package jobs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/internal/tick"
	"github.com/backupbot/backupbot/policy/lock"
)

// One backup at a time per target, across every worker on every host:
// before a create job starts, its worker takes a run lock on the job's
// target (in Redis, beside the policy locks but in its own key space, so
// a restore is not refused because a backup runs). A job whose target is
// busy is not started: it goes back to the queue and is tried again
// shortly, without counting as a failed attempt. asynq's unique task id
// (the job id) already keeps one job from being queued twice.
const (
	runLockPrefix = "backupbot:run:"
	// runLockTTL is short so that the target of a worker that was killed
	// (kill -9, power loss) is free again soon; a live worker extends it.
	runLockTTL    = 30 * time.Second
	runLockExtend = 10 * time.Second
)

// errWaitTurn marks a job that was not started because its target is busy
// (or the run lock could not be checked): asynq requeues it after
// waitTurnDelay and does not count it as a failure.
var errWaitTurn = errors.New("not started: another job is working on the same target; back in the queue")

// waitTurnDelay is the pause before a job whose target was busy is tried
// again (asynq moves it back to its queue within a second after that).
func waitTurnDelay() time.Duration {
	return 200*time.Millisecond + rand.N(300*time.Millisecond)
}

// runKey is the run lock a job needs, and whether it needs one: backups
// (create) of one target, or of every target for --target all.
func (w *Worker) runKey(cmd commands.Command) (lock.Key, bool) {
	if cp, ok := cmd.(*commands.Copy); ok && cp.Target != "" && cp.Target != "all" {
		// Copies of one target into one storage go one at a time (two at
		// once would both write what the destination lacks).
		to, err := w.config().ResolveStorage(commands.StorageRef{Name: cp.To})
		if err != nil {
			return lock.Key{}, false
		}
		return lock.Key{Storage: to.Name, Target: cp.Target}, true
	}
	c, ok := cmd.(*commands.Create)
	if !ok {
		return lock.Key{}, false
	}
	ns, err := w.config().ResolveStorage(c.Storage)
	if err != nil {
		return lock.Key{}, false // the handler fails it with the reason
	}
	return lock.Key{Storage: ns.Name, Target: oneTarget(c.Target)}, true
}

// takeTurn takes the job's run lock, if its action needs one, and keeps it
// extended until release is called. A busy target (or Redis trouble)
// returns an error wrapping errWaitTurn.
func (w *Worker) takeTurn(ctx context.Context, j Meta, cmd commands.Command) (release func(), err error) {
	key, ok := w.runKey(cmd)
	if !ok {
		return func() {}, nil
	}
	lease, err := w.runLocks.Lock(ctx, key,
		lock.Owner{Identity: j.Requester, JobID: j.JobID, Action: string(cmd.Action())}, runLockTTL)
	if err != nil {
		return nil, fmt.Errorf("%w (%w)", errWaitTurn, err)
	}
	ectx, stop := context.WithCancel(context.WithoutCancel(ctx))
	wait := tick.Go(ectx, runLockExtend, nil, func() {
		if err := lease.Extend(ectx, runLockTTL); err != nil {
			w.log.Warn("could not extend the run lock of a target; trying again", "job", j.JobID, "target", key, "err", err)
		}
	})
	return func() {
		stop()
		wait()
		if err := lease.Release(context.WithoutCancel(ctx)); err != nil {
			w.log.Warn("could not release the run lock of a target; it lapses by itself", "job", j.JobID, "ttl", runLockTTL, "err", err)
		}
	}, nil
}
