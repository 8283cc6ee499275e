package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/internal/randid"
)

// ClientOptions tune a Client; the zero value is what the service uses.
type ClientOptions struct {
	// Logger receives the client's log lines; nil means slog.Default().
	Logger *slog.Logger
	// Redact removes secrets from a command and its text before they are
	// stored in Redis (the service passes the audit log's redactor).
	Redact func(string) string
}

// Client enqueues jobs and answers status, cancel and list --running. The
// router (bot) and the scheduler use it; it is safe for concurrent use.
type Client struct {
	insp  *asynq.Inspector
	rdb   redis.UniversalClient
	store statusStore
	log   *slog.Logger

	redact func(string) string
}

// NewClient returns a Client. opt says how asynq reaches Redis; rdb is the
// client for backupbot's own keys and events. Both must reach the same
// Redis database: a job's record and its asynq task are written together
// by one script on rdb. A nil opt makes asynq's inspector share rdb.
func NewClient(opt asynq.RedisConnOpt, rdb redis.UniversalClient, o ClientOptions) *Client {
	c := &Client{rdb: rdb, store: statusStore{rdb}, log: o.Logger, redact: o.Redact}
	if c.log == nil {
		c.log = slog.Default()
	}
	if opt == nil {
		c.insp = asynq.NewInspectorFromRedisClient(rdb)
	} else {
		c.insp = asynq.NewInspector(opt)
	}
	return c
}

// Close releases the client's connections (not rdb, which the caller owns).
func (c *Client) Close() error {
	return c.insp.Close()
}

// newJobID returns 8 random hex digits.
func newJobID() string { return randid.Hex(4) }

// Enqueue queues cmd as a job and returns meta with JobID and EnqueuedAt
// (and Text, when empty, as commands.Render(cmd)) filled in. It returns as
// soon as the job is on the queue; its record, its "queued" event and the
// asynq task are written in one atomic Redis step, so a subscriber may see
// the job's events before Enqueue's caller does. An error wraps
// ErrNotQueued when the job will not run, ErrQueueUncertain when Redis
// could not say (see EnqueueOnce).
func (c *Client) Enqueue(ctx context.Context, cmd commands.Command, meta Meta) (Meta, error) {
	meta, _, err := c.EnqueueOnce(ctx, cmd, meta, "")
	return meta, err
}

// Status returns what is known about a job: phase, progress, requester,
// times, state, attempt and last error.
func (c *Client) Status(ctx context.Context, jobID string) (Status, error) {
	jobID = strings.ToLower(strings.TrimSpace(jobID))
	st, err := c.store.get(ctx, jobID)
	if err != nil {
		return st, err
	}
	return c.reconcile(ctx, st), nil
}

// reconcile settles a record whose task asynq no longer runs: a task
// archived by asynq's recoverer after its retries ran out, or one that
// vanished with a Redis that lost its data.
func (c *Client) reconcile(ctx context.Context, st Status) Status {
	if st.State.Final() || time.Since(st.Meta.EnqueuedAt) < 10*time.Second {
		return st
	}
	info, err := c.insp.GetTaskInfo(st.Queue, st.Meta.JobID)
	var why string
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound):
		why = LostMessage(st.Meta)
	case err != nil:
		return st
	case info.State == asynq.TaskStateArchived:
		why = humanTaskError(info.LastErr)
	default:
		return st
	}
	now := time.Now()
	if ok, _ := c.store.finish(ctx, st.Meta.JobID, StateFailed, nil, why, now); ok {
		_ = publish(ctx, c.rdb, Event{Kind: EventFailed, Meta: st.Meta, Action: st.Action, Attempt: st.Attempt, Error: why, At: now})
	}
	st.State, st.LastError, st.FinishedAt = StateFailed, why, now
	return st
}

// humanTaskError rewords asynq's own failure texts.
func humanTaskError(s string) string {
	switch {
	case strings.Contains(s, asynq.ErrLeaseExpired.Error()):
		return "the worker running this job stopped answering (crashed or lost Redis) and no retries were left"
	case strings.Contains(s, context.DeadlineExceeded.Error()):
		return "the job ran past its time limit and was stopped"
	case s == "":
		return "the job failed without a message"
	}
	return s
}

// Cancel stops a job: a queued one is removed from the queue at once; a
// running one stops at its next safe point (the engine leaves the
// repository clean) and ends "canceled", never retried. Cancelling a
// finished job returns an error wrapping ErrJobFinished.
func (c *Client) Cancel(ctx context.Context, jobID string) error {
	jobID = strings.ToLower(strings.TrimSpace(jobID))
	st, err := c.store.get(ctx, jobID)
	if err != nil {
		return err
	}
	if st.State.Final() {
		return fmt.Errorf("job %s %s: %w", jobID, st.State, ErrJobFinished)
	}
	// The flag first: a worker that dequeues the job from now on, or is
	// running it, sees it and stops.
	if err := c.store.requestCancel(ctx, jobID); err != nil {
		return fmt.Errorf("flag job %s for cancellation in Redis: %w", jobID, err)
	}
	info, err := c.insp.GetTaskInfo(st.Queue, jobID)
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound):
		return c.markCanceled(ctx, st, "canceled before it ran")
	case err != nil:
		return fmt.Errorf("look up job %s on the queue: %w", jobID, err)
	case info.State == asynq.TaskStateActive:
		return nil // the handler polls the flag and stops
	case info.State == asynq.TaskStateArchived || info.State == asynq.TaskStateCompleted:
		return fmt.Errorf("job %s: %w", jobID, ErrJobFinished)
	}
	if err := c.insp.DeleteTask(st.Queue, jobID); err != nil {
		if errors.Is(err, asynq.ErrTaskNotFound) {
			return c.markCanceled(ctx, st, "canceled before it ran")
		}
		// Most likely it just became active: the flag stops it.
		c.log.Debug("cancel: could not delete task, relying on the flag", "job", jobID, "err", err)
		return nil
	}
	return c.markCanceled(ctx, st, "canceled before it ran")
}

func (c *Client) markCanceled(ctx context.Context, st Status, why string) error {
	now := time.Now()
	ok, err := c.store.finish(ctx, st.Meta.JobID, StateCanceled, nil, why, now)
	if err != nil {
		return err
	}
	if ok {
		return publish(ctx, c.rdb, Event{Kind: EventCanceled, Meta: st.Meta, Action: st.Action, Attempt: st.Attempt, Error: why, At: now})
	}
	return nil
}

// Running returns the jobs that are queued, running or waiting to be
// retried, oldest first (for `/backup list --running`).
func (c *Client) Running(ctx context.Context) ([]Status, error) {
	ids, err := c.store.live(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(ids))
	for _, id := range ids {
		st, err := c.store.get(ctx, id)
		if errors.Is(err, ErrJobNotFound) {
			_ = c.rdb.ZRem(ctx, liveJobsKey, id).Err() // record expired
			continue
		}
		if err != nil {
			return nil, err
		}
		if st = c.reconcile(ctx, st); !st.State.Final() {
			out = append(out, st)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Meta.EnqueuedAt.Before(out[j].Meta.EnqueuedAt) })
	return out, nil
}
