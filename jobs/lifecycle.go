package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/internal/tick"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/storage/backend"
)

// taskHandler adapts one action's Handler to asynq: it decodes the task,
// keeps the job's status record and events in step with what happens
// (started, retrying, progress, succeeded, failed, canceled), watches the
// cancel flag, and tells asynq whether to retry.
func (w *Worker) taskHandler(action commands.Action) asynq.Handler {
	h := w.o.Handlers[action]
	if h == nil {
		h = w.builtinHandler(action)
	}
	mws := append([]Middleware{Recover(), Recheck(w.deps.Policy), diagnose(w.deps.Redact)}, w.o.Middleware...)
	h = chain(h, mws...)
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		return w.process(ctx, action, h, t)
	})
}

func (w *Worker) process(actx context.Context, action commands.Action, h Handler, t *asynq.Task) error {
	cmd, meta, err := decodePayload(t.Payload())
	if err != nil {
		w.log.Error("dropping job with an unreadable payload", "task", t.Type(), "err", err)
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	log := w.log.With("job", meta.JobID, "action", string(action))
	// Status writes and events use a context that outlives the job's, so a
	// cancelled or timed-out job still records how it ended.
	bg := context.WithoutCancel(actx)

	prev, err := w.store.get(bg, meta.JobID)
	if err != nil && !errors.Is(err, ErrJobNotFound) {
		return fmt.Errorf("read job record: %w", err) // Redis trouble: let asynq retry
	}
	if prev.State.Final() {
		log.Warn("job already finished; not running it again", "state", prev.State)
		return nil
	}
	if prev.CancelRequested {
		w.end(bg, log, meta, action, prev.Attempt, StateCanceled, nil, "canceled before it started")
		return fmt.Errorf("%w: %w", errCanceled, asynq.SkipRetry)
	}

	// Register before anything else so a shutdown that starts now reaches us.
	jctx, cancel := context.WithCancelCause(actx)
	defer cancel(nil)
	if dl, ok := actx.Deadline(); ok {
		// Stop a little before asynq's own deadline, so the job's outcome
		// comes from this handler rather than from asynq's timeout.
		var stop context.CancelFunc
		jctx, stop = context.WithDeadline(jctx, dl.Add(-min(5*time.Second, time.Until(dl)/10)))
		defer stop()
	}
	if !w.track(meta.JobID, cancel) {
		return errHandedBack
	}
	defer w.untrack(meta.JobID)

	// One job at a time per target: a busy target sends the job back to
	// the queue before it starts (serialize.go).
	release, err := w.takeTurn(bg, meta, cmd)
	if err != nil {
		log.Debug("target busy; job back in the queue", "err", err)
		return err
	}
	defer release()

	attempt, err := w.store.start(bg, meta.JobID, time.Now())
	if err != nil {
		return err
	}
	if attempt > 1 {
		why := prev.LastError
		if prev.State == StateActive || prev.State == StateQueued || why == "" {
			why = fmt.Sprintf("the worker running attempt %d stopped without finishing it (crashed, killed or cut off from Redis); another worker picked the job up", attempt-1)
		}
		if prev.State != StateRetrying {
			// A clean failure already announced its retry; a crash did not.
			w.event(bg, Event{Kind: EventRetrying, Meta: meta, Action: string(action), Attempt: attempt, Error: why})
		}
	}
	if limit := specs[action].MaxRetry + 1 + maxInterruptions; attempt > limit {
		why := fmt.Sprintf("gave up after %d attempts: the job was interrupted (its worker crashed or stopped) too often; check the workers' logs and memory", attempt-1)
		w.end(bg, log, meta, action, attempt, StateFailed, nil, why)
		return fmt.Errorf("%s: %w", why, asynq.SkipRetry)
	}
	w.event(bg, Event{Kind: EventStarted, Meta: meta, Action: string(action), Attempt: attempt})
	log.Info("job started", "attempt", attempt)

	relay := startProgressRelay(jctx, w.o.ProgressInterval, func(p Progress) {
		p = *redactEvent(Event{Progress: &p}, w.deps.Redact).Progress
		if err := w.store.progress(bg, meta.JobID, p); err != nil {
			log.Debug("could not record progress", "err", err)
		}
		_ = publish(bg, w.rdb, Event{Kind: EventProgress, Meta: meta, Action: string(action), Attempt: attempt, Progress: &p})
	})
	startedAt := time.Now()
	go w.watchCancel(jctx, cancel, meta.JobID, func(ctx context.Context) {
		queue := specs[action].Queue
		if meta.Schedule != "" {
			queue = QueueScheduled
		}
		if ok, err := w.store.restore(ctx, meta, string(action), queue, attempt, startedAt); ok {
			log.Warn("the job's record vanished from Redis (restarted without persistence?); wrote it again")
		} else if err != nil {
			log.Debug("could not check the job's record", "err", err)
		}
	})

	job := &Job{Meta: meta, Command: cmd, Attempt: attempt, Logger: log, progress: relay}
	res, err := h.Run(jctx, job)
	relay.finish()

	cause := context.Cause(jctx)
	switch {
	case err == nil:
		w.end(bg, log, meta, action, attempt, StateSucceeded, res, "")
		return nil
	case errors.Is(cause, errCanceled):
		w.end(bg, log, meta, action, attempt, StateCanceled, nil, "canceled while running; stopped at a safe point, the repository is clean")
		return fmt.Errorf("%w: %w", errCanceled, asynq.SkipRetry)
	case errors.Is(cause, errHandedBack):
		log.Info("job handed back to the queue")
		_ = w.store.retrying(bg, meta.JobID, errHandedBack.Error())
		w.event(bg, Event{Kind: EventRetrying, Meta: meta, Action: string(action), Attempt: attempt,
			Error: "the worker running this job is shutting down; it stopped at a safe point and handed the job back to the queue"})
		return errHandedBack
	}
	why := err.Error()
	if errors.Is(err, context.DeadlineExceeded) && errors.Is(jctx.Err(), context.DeadlineExceeded) {
		why = fmt.Sprintf("the job ran past its time limit of %s and was stopped at a safe point", specs[action].Timeout)
		err = permanent(errors.New(why))
	}
	retried, _ := asynq.GetRetryCount(actx) // failed attempts so far (hand-backs and crashes not counted)
	maxRetry := specs[action].MaxRetry
	if errors.Is(err, ErrPermanent) || retried >= maxRetry {
		if errors.Is(err, policy.ErrNoLongerAllowed) {
			w.endRefused(bg, log, meta, action, attempt, why)
		} else {
			// A handler may return what it did get done with its
			// failure (a restore's lost files, a verify's findings): the
			// thread shows it.
			if res == nil {
				res = resultOf(err)
			}
			w.finish(bg, log, Event{Meta: meta, Action: string(action), Attempt: attempt, Result: res, Error: why,
				StoragePermanent: errors.Is(err, backend.ErrPermanent), Permanent: errors.Is(err, ErrPermanent)}, StateFailed)
		}
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	_ = w.store.retrying(bg, meta.JobID, redactEvent(Event{Error: why}, w.deps.Redact).Error)
	w.event(bg, Event{Kind: EventRetrying, Meta: meta, Action: string(action), Attempt: attempt,
		Error: fmt.Sprintf("attempt %d of %d failed: %s; retrying", attempt, maxRetry+1, why)})
	return err
}

// end records a final state and announces it, once.
func (w *Worker) end(ctx context.Context, log *slog.Logger, meta Meta, action commands.Action, attempt int, st State, res *Result, why string) {
	w.finish(ctx, log, Event{Meta: meta, Action: string(action), Attempt: attempt, Result: res, Error: why}, st)
}

// endRefused ends a job the policy re-check refused.
func (w *Worker) endRefused(ctx context.Context, log *slog.Logger, meta Meta, action commands.Action, attempt int, why string) {
	w.finish(ctx, log, Event{Meta: meta, Action: string(action), Attempt: attempt, Error: why, Refused: true}, StateFailed)
}

func (w *Worker) finish(ctx context.Context, log *slog.Logger, ev Event, st State) {
	ev = redactEvent(ev, w.deps.Redact)
	ev.Result = boundResult(ev.Result, ev.Meta.JobID, w.o.ReportDir, log)
	// Retried through a Redis outage: how a job ended must not be lost.
	var ok bool
	err := retryRedis(ctx, log, "record the end of job "+ev.Meta.JobID, func() error {
		var err error
		ok, err = w.store.finish(ctx, ev.Meta.JobID, st, ev.Result, ev.Error, time.Now())
		return err
	})
	if err != nil {
		log.Warn("could not record the end of the job", "state", st, "err", err)
	}
	if !ok && err == nil {
		return // already ended (e.g. cancelled while queued)
	}
	ev.Kind = map[State]EventKind{StateSucceeded: EventSucceeded, StateFailed: EventFailed, StateCanceled: EventCanceled}[st]
	if r := ev.Result; r != nil && r.Report != nil && r.Report.Path != "" {
		// The record holds the report's preview; the event does not carry
		// it a second time (the relay reads the file, or the record).
		res, rep := *r, *r.Report
		rep.Data = nil
		res.Report = &rep
		ev.Result = &res
	}
	log.Info("job ended", "state", st, "attempt", ev.Attempt, "reason", ev.Error)
	w.event(ctx, ev)
}

// event publishes ev and hands it to the audit hook.
func (w *Worker) event(ctx context.Context, ev Event) {
	ev.At = time.Now().UTC()
	ev = redactEvent(ev, w.deps.Redact)
	// Audit first: whoever sees the event can find it in the audit log.
	if w.deps.Audit != nil && ev.Kind != EventProgress {
		w.deps.Audit(ctx, ev)
	}
	pub := publish
	if ev.Kind != EventProgress {
		pub = func(ctx context.Context, rdb redis.UniversalClient, ev Event) error {
			return publishDurable(ctx, rdb, w.log, ev)
		}
	}
	if err := pub(ctx, w.rdb, ev); err != nil {
		w.log.Warn("could not publish job event", "job", ev.Meta.JobID, "kind", ev.Kind, "err", err)
	}
}

// track registers a running job's cancel function; false when the worker
// is stopping and the job must go back to the queue.
func (w *Worker) track(id string, cancel context.CancelCauseFunc) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopping {
		return false
	}
	w.running[id] = cancel
	return true
}

func (w *Worker) untrack(id string) {
	w.mu.Lock()
	delete(w.running, id)
	w.mu.Unlock()
}

// watchCancel cancels the job's context when /backup cancel flags it.
// Every recordCheckEvery it also calls keep, which writes the job's
// record again if Redis lost it.
func (w *Worker) watchCancel(ctx context.Context, cancel context.CancelCauseFunc, id string, keep func(context.Context)) {
	lastKeep := time.Now()
	tick.Every(ctx, w.o.CancelPollInterval, func() {
		if ok, err := w.store.cancelRequested(ctx, id); err == nil && ok {
			cancel(errCanceled)
			return
		}
		if time.Since(lastKeep) >= recordCheckEvery {
			keep(ctx)
			lastKeep = time.Now()
		}
	})
}

// recordCheckEvery is how often a running job checks that its record is
// still in Redis.
const recordCheckEvery = 2 * time.Second
