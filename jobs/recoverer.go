package jobs

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
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
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		r.sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
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
