package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/internal/tick"
)

// orphanRecoverer puts back on the queue the jobs whose worker died.
//
// asynq v0.26 keeps a lease on every running task: the owning worker
// extends it to now+30 s every 5 s (both fixed in asynq). When a worker is
// SIGKILLed its leases run out 25-30 s later, but asynq's own recoverer
// only looks every minute and waits 30 s more for clock skew, so the job
// sits 60-120 s before another worker retries it (plus the retry delay).
// This loop does the same move asynq's Requeue does (active -> pending,
// atomically, only if the task is still active and leased) for leases that
// expired more than grace ago, checked every few seconds: another worker
// picks a killed worker's job up 30-40 s after the kill with the defaults
// (lease end + 5 s grace + up to 2 s until the next check).
//
// It is safe against a worker that is alive but cut off from Redis: that
// worker stops the job itself when its own copy of the lease runs out
// (asynq cancels the handler), which is no later than the moment the lease
// expires in Redis, so two workers never run the job at once.
type orphanRecoverer struct {
	rdb    redis.UniversalClient
	queues []string
	grace  time.Duration
	every  time.Duration
	log    *slog.Logger
}

// requeueOrphanScript mirrors asynq's requeueCmd (internal/rdb), applied to
// tasks whose lease expired before the cutoff.
// KEYS[1] asynq:{q}:lease  KEYS[2] asynq:{q}:active  KEYS[3] asynq:{q}:pending
// ARGV[1] cutoff (unix seconds)  ARGV[2] task key prefix asynq:{q}:t:
var requeueOrphanScript = redis.NewScript(`
local ids = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1])
local moved = {}
for _, id in ipairs(ids) do
  if redis.call("LREM", KEYS[2], 0, id) > 0 then
    redis.call("ZREM", KEYS[1], id)
    redis.call("RPUSH", KEYS[3], id)
    redis.call("HSET", ARGV[2] .. id, "state", "pending")
    table.insert(moved, id)
  end
end
return moved`)

func (r orphanRecoverer) run(ctx context.Context) {
	r.sweep(ctx)
	tick.Every(ctx, r.every, func() { r.sweep(ctx) })
}

func (r orphanRecoverer) sweep(ctx context.Context) {
	cutoff := time.Now().Add(-r.grace).Unix()
	for _, q := range r.queues {
		prefix := "asynq:{" + q + "}:"
		moved, err := requeueOrphanScript.Run(ctx, r.rdb,
			[]string{prefix + "lease", prefix + "active", prefix + "pending"},
			strconv.FormatInt(cutoff, 10), prefix+"t:").StringSlice()
		if err != nil {
			if ctx.Err() == nil {
				r.log.Debug("orphan check failed", "queue", q, "err", err)
			}
			continue
		}
		for _, id := range moved {
			r.log.Warn("requeued a job whose worker stopped answering", "job", id, "queue", q)
		}
	}
}

// LostMessage is what a job's thread is told when Redis lost the job's
// task (a restart without persistence): what happened and the exact
// command to run it again.
func LostMessage(meta Meta) string {
	text := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(meta.Text), "/backup"))
	return fmt.Sprintf("lost when Redis restarted without persistence; rerun with `/backup %s`", text)
}

// lostGrace leaves alone a record younger than this: its enqueue may still
// be putting the task on the queue.
const lostGrace = 10 * time.Second

// reconcileLost ends the jobs whose records say queued, running or
// retrying but whose asynq task is gone (lost in a Redis restart without
// persistence, or deleted by hand): each is marked failed and its thread
// is told it was lost and how to rerun it. Workers run it at start and
// then every reconcileEvery.
func (w *Worker) reconcileLost(ctx context.Context, insp *asynq.Inspector) {
	ids, err := w.store.live(ctx)
	if err != nil {
		w.log.Debug("lost-job check: cannot list live jobs", "err", err)
		return
	}
	for _, id := range ids {
		st, err := w.store.get(ctx, id)
		if errors.Is(err, ErrJobNotFound) {
			_ = w.rdb.ZRem(ctx, liveJobsKey, id).Err() // record expired or lost
			continue
		}
		if err != nil || st.State.Final() || time.Since(st.Meta.EnqueuedAt) < lostGrace {
			continue
		}
		w.mu.Lock()
		_, mine := w.running[id]
		w.mu.Unlock()
		if mine {
			continue
		}
		_, err = insp.GetTaskInfo(st.Queue, id)
		if !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
			continue
		}
		why := LostMessage(st.Meta)
		ok, err := w.store.finish(ctx, id, StateFailed, nil, why, time.Now())
		if err != nil || !ok {
			continue
		}
		w.log.Warn("a job's task vanished from Redis; told its thread", "job", id, "state", st.State)
		w.event(ctx, Event{Kind: EventFailed, Meta: st.Meta, Action: st.Action, Attempt: st.Attempt, Error: why})
	}
}

// reconcileEvery is how often a worker looks for lost jobs after its start.
const reconcileEvery = time.Minute

func (w *Worker) runReconcile(ctx context.Context) {
	var insp *asynq.Inspector
	if w.opt == nil {
		insp = asynq.NewInspectorFromRedisClient(w.rdb)
	} else {
		insp = asynq.NewInspector(w.opt)
	}
	defer insp.Close()
	w.reconcileLost(ctx, insp)
	tick.Every(ctx, reconcileEvery, func() { w.reconcileLost(ctx, insp) })
}

// Missing returns the ids among ids whose job record is not in Redis (it
// expired, or was lost with a Redis that restarted without persistence),
// in one round trip.
func (c *Client) Missing(ctx context.Context, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.Exists(ctx, jobKey(id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("look up job records in Redis: %w", err)
	}
	var out []string
	for i, c := range cmds {
		if c.Val() == 0 {
			out = append(out, ids[i])
		}
	}
	return out, nil
}
