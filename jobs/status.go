package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// State is where a job is in its life.
type State string

// Job states.
const (
	StateQueued    State = "queued"    // waiting for a worker
	StateActive    State = "active"    // a worker is running it
	StateRetrying  State = "retrying"  // failed or was handed back; will run again
	StateSucceeded State = "succeeded" // done
	StateFailed    State = "failed"    // gave up; LastError says why
	StateCanceled  State = "canceled"  // stopped by /backup cancel
)

// Final reports whether the job will not run again.
func (s State) Final() bool {
	return s == StateSucceeded || s == StateFailed || s == StateCanceled
}

// Status is what `/backup status JOB` shows.
type Status struct {
	Meta   Meta   `json:"meta"`
	Action string `json:"action"`
	Queue  string `json:"queue"`
	State  State  `json:"state"`
	// Progress is the latest report (nil before the first one).
	Progress *Progress `json:"progress,omitempty"`
	// Attempt counts runs: 1 on the first, 2 after one retry.
	Attempt    int       `json:"attempt"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	LastError  string    `json:"last_error,omitempty"`
	Result     *Result   `json:"result,omitempty"`
	// CancelRequested is set once /backup cancel was asked for.
	CancelRequested bool `json:"cancel_requested,omitempty"`
}

// ErrJobNotFound is returned (wrapped) for a job id that is unknown or
// whose record has expired.
var ErrJobNotFound = errors.New("no such job")

// ErrJobFinished is returned (wrapped) by Cancel for a job that already ended.
var ErrJobFinished = errors.New("job already finished")

// Redis keys of the job records.
const (
	jobKeyPrefix = "backupbot:job:"
	liveJobsKey  = "backupbot:jobs:live" // zset: job id -> enqueue time (unix ms)
	// liveTTL keeps a record of an unfinished job; finishedTTL one of a finished job.
	liveTTL     = 30 * 24 * time.Hour
	finishedTTL = 7 * 24 * time.Hour
)

func jobKey(id string) string    { return jobKeyPrefix + id }
func cancelKey(id string) string { return jobKeyPrefix + id + ":cancel" }

// Hash fields of a job record.
const (
	fMeta     = "meta"
	fAction   = "action"
	fQueue    = "queue"
	fState    = "state"
	fProgress = "progress"
	fAttempt  = "attempt"
	fStarted  = "started_at"
	fFinished = "finished_at"
	fError    = "error"
	fResult   = "result"
)

// statusStore reads and writes job records.
type statusStore struct{ rdb redis.UniversalClient }

// start records the beginning of an attempt and returns its number.
func (s statusStore) start(ctx context.Context, id string, at time.Time) (int, error) {
	key := jobKey(id)
	pipe := s.rdb.TxPipeline()
	n := pipe.HIncrBy(ctx, key, fAttempt, 1)
	pipe.HSet(ctx, key, fState, string(StateActive), fStarted, at.UTC().Format(time.RFC3339Nano))
	pipe.HDel(ctx, key, fProgress)
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("record start of job %s: %w", id, err)
	}
	return int(n.Val()), nil
}

func (s statusStore) progress(ctx context.Context, id string, p Progress) error {
	b, _ := json.Marshal(p)
	return s.rdb.HSet(ctx, jobKey(id), fProgress, b).Err()
}

// retrying records that an attempt ended and the job will run again.
func (s statusStore) retrying(ctx context.Context, id, why string) error {
	return s.rdb.HSet(ctx, jobKey(id), fState, string(StateRetrying), fError, why).Err()
}

// finishScript sets a final state unless the job already has one.
// KEYS: job hash, live zset, cancel flag. ARGV: id, ttl seconds, then field/value pairs.
var finishScript = redis.NewScript(`
local st = redis.call("HGET", KEYS[1], "state")
if st == "succeeded" or st == "failed" or st == "canceled" then return 0 end
if redis.call("EXISTS", KEYS[1]) == 0 then return 2 end
for i = 3, #ARGV, 2 do redis.call("HSET", KEYS[1], ARGV[i], ARGV[i+1]) end
redis.call("EXPIRE", KEYS[1], ARGV[2])
redis.call("ZREM", KEYS[2], ARGV[1])
if redis.call("EXISTS", KEYS[3]) == 1 then redis.call("EXPIRE", KEYS[3], ARGV[2]) end
return 1`)

// finish records a final state; it reports false when the job had already
// finished (so its final event must not be sent twice). A record that is
// gone (expired, or lost with a Redis that restarted without persistence)
// is not written again, and finish reports true: the outcome is still news.
func (s statusStore) finish(ctx context.Context, id string, st State, res *Result, errText string, at time.Time) (bool, error) {
	args := []any{id, int(finishedTTL.Seconds()), fState, string(st), fFinished, at.UTC().Format(time.RFC3339Nano)}
	if res != nil {
		b, err := json.Marshal(res)
		if err != nil {
			return false, fmt.Errorf("encode result of job %s: %w", id, err)
		}
		args = append(args, fResult, string(b))
	}
	if errText != "" {
		args = append(args, fError, errText)
	}
	n, err := finishScript.Run(ctx, s.rdb, []string{jobKey(id), liveJobsKey, cancelKey(id)}, args...).Int()
	if err != nil {
		return false, fmt.Errorf("record end of job %s: %w", id, err)
	}
	return n >= 1, nil
}

// restore writes the record of a running job again when Redis lost it (a
// restart without persistence), so status, the relay's lost-job check and
// the final state keep working. It reports whether it had to.
func (s statusStore) restore(ctx context.Context, meta Meta, action, queue string, attempt int, started time.Time) (bool, error) {
	key := jobKey(meta.JobID)
	n, err := s.rdb.Exists(ctx, key).Result()
	if err != nil || n > 0 {
		return false, err
	}
	mb, err := json.Marshal(meta)
	if err != nil {
		return false, fmt.Errorf("encode job meta: %w", err)
	}
	pipe := s.rdb.TxPipeline()
	pipe.HSetNX(ctx, key, fMeta, mb)
	pipe.HSet(ctx, key, fAction, action, fQueue, queue, fState, string(StateActive), fAttempt, attempt,
		fStarted, started.UTC().Format(time.RFC3339Nano))
	pipe.Expire(ctx, key, liveTTL)
	pipe.ZAdd(ctx, liveJobsKey, redis.Z{Score: float64(meta.EnqueuedAt.UnixMilli()), Member: meta.JobID})
	_, err = pipe.Exec(ctx)
	return err == nil, err
}

func (s statusStore) get(ctx context.Context, id string) (Status, error) {
	pipe := s.rdb.Pipeline()
	h := pipe.HGetAll(ctx, jobKey(id))
	c := pipe.Exists(ctx, cancelKey(id))
	if _, err := pipe.Exec(ctx); err != nil {
		return Status{}, fmt.Errorf("read job %s from Redis: %w", id, err)
	}
	m := h.Val()
	if len(m) == 0 || m[fMeta] == "" {
		return Status{}, fmt.Errorf("job %s: %w (job ids are 8 hex digits; records are kept for 7 days)", id, ErrJobNotFound)
	}
	st := Status{
		Action:          m[fAction],
		Queue:           m[fQueue],
		State:           State(m[fState]),
		LastError:       m[fError],
		CancelRequested: c.Val() > 0,
	}
	if err := json.Unmarshal([]byte(m[fMeta]), &st.Meta); err != nil {
		return Status{}, fmt.Errorf("decode job %s: %w", id, err)
	}
	st.Attempt, _ = strconv.Atoi(m[fAttempt])
	st.StartedAt, _ = time.Parse(time.RFC3339Nano, m[fStarted])
	st.FinishedAt, _ = time.Parse(time.RFC3339Nano, m[fFinished])
	if v := m[fProgress]; v != "" {
		var p Progress
		if json.Unmarshal([]byte(v), &p) == nil {
			st.Progress = &p
		}
	}
	if v := m[fResult]; v != "" {
		var r Result
		if json.Unmarshal([]byte(v), &r) == nil {
			st.Result = &r
		}
	}
	return st, nil
}

func (s statusStore) live(ctx context.Context) ([]string, error) {
	ids, err := s.rdb.ZRange(ctx, liveJobsKey, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("list running jobs in Redis: %w", err)
	}
	return ids, nil
}

func (s statusStore) requestCancel(ctx context.Context, id string) error {
	return s.rdb.Set(ctx, cancelKey(id), time.Now().UTC().Format(time.RFC3339), liveTTL).Err()
}

func (s statusStore) cancelRequested(ctx context.Context, id string) (bool, error) {
	n, err := s.rdb.Exists(ctx, cancelKey(id)).Result()
	return n > 0, err
}
