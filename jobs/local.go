package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/backupbot/backupbot/commands"
)

// ErrNeedsService marks a command RunLocal cannot run because it needs the
// service's shared state in Redis (schedules, the job list).
var ErrNeedsService = errors.New("needs the backupbot service")

// localProgressInterval is the least time between two progress reports
// RunLocal passes on, phase changes aside.
const localProgressInterval = 100 * time.Millisecond

// RunLocal runs cmd in this process with the handler a worker would run
// for it, without Redis or a queue: no status record, no events, no
// retries, no cancel flag (cancel ctx instead; handlers stop at their
// next safe point), no policy re-check (the caller is the operator).
// progress, when not nil, gets the job's progress reports, throttled and
// with rate and ETA, from one goroutine at a time. deps.Config and
// deps.Password are required; Policy and Audit are ignored.
//
// Schedules and list --running need the service and fail with
// ErrNeedsService. Errors from a bad command or configuration match
// ErrBadInput; every error is permanent (nothing retries here). A failure
// that got work done returns its result beside the error, as the worker's
// failed event carries it (a restore's lost files, a verify's findings,
// the targets a create --target all did back up).
func RunLocal(ctx context.Context, deps Deps, cmd commands.Command, progress func(Progress)) (*Result, error) {
	if deps.Config == nil || deps.Password == nil {
		return nil, errors.New("jobs.RunLocal: Deps.Config and Deps.Password are required")
	}
	action := cmd.Action()
	// Every action that runs as a job runs here too, but for the ones
	// that are the service's own state in Redis.
	if !Queueable(action) || action == commands.ActionSchedule {
		return nil, fmt.Errorf("%s: %w", action, ErrNeedsService)
	}
	if c, ok := cmd.(*commands.List); ok && c.Running {
		return nil, fmt.Errorf("list --running shows the service's jobs: %w", ErrNeedsService)
	}
	w, _ := localWorker(deps)
	deps = w.deps

	if progress == nil {
		progress = func(Progress) {}
	}
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	relay := startProgressRelay(jctx, localProgressInterval, progress)

	meta := Meta{JobID: newJobID(), Text: commands.Render(cmd), EnqueuedAt: time.Now()}
	job := &Job{Meta: meta, Command: cmd, Attempt: 1, progress: relay,
		Logger: deps.Logger.With("job", meta.JobID, "action", string(action))}
	h := chain(w.builtinHandler(action), Recover(), diagnose(deps.Redact))
	res, err := h.Run(jctx, job)
	relay.finish()
	if err != nil {
		if res == nil {
			res = resultOf(err)
		}
		return redactLocal(res, deps.Redact), Permanent(err)
	}
	return redactLocal(res, deps.Redact), nil
}

// redactLocal passes a result's text through redact (when set), as the
// worker does before it stores or posts one.
func redactLocal(res *Result, redact func(string) string) *Result {
	if res == nil || redact == nil {
		return res
	}
	return redactResult(res, redact)
}
