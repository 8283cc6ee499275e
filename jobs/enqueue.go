package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/backupbot/backupbot/commands"
)

// Enqueue is one Redis script (enqueueScript): the job record, its place in
// the live set, its "queued" event and the asynq task are written together
// or not at all. Every enqueue carries a request key in
// backupbot:req:<hash>: the job id it created, or the tombstone "!" when
// the caller gave up on it. A replay of the same request finds the job it
// made; a call whose answer was lost (cancelled, timed out, connection
// dropped) is settled by settleScript, which either finds the job or writes
// the tombstone so that the lost call can never land later.
const (
	requestKeyPrefix = "backupbot:req:"
	// RequestKeyTTL is how long a request key is remembered: longer than
	// Slack's and Discord's five-minute signing window, so a replay within
	// the window is always recognised.
	RequestKeyTTL = 15 * time.Minute
	// tombstone marks a request key whose enqueue was abandoned.
	tombstone = "!"
	// settleTimeout bounds the settling of an enqueue whose answer was lost.
	settleTimeout = time.Second
)

// Errors of EnqueueOnce; the router words them for the user.
var (
	// ErrNotQueued means the job was not queued and provably never will be.
	ErrNotQueued = errors.New("the job was not queued and will not run")
	// ErrQueueUncertain means Redis stopped answering in the middle of the
	// enqueue and could not be asked afterwards: the job may or may not be
	// queued (Status tells, once Redis answers).
	ErrQueueUncertain = errors.New("could not confirm whether the job was queued")
)

func requestKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return requestKeyPrefix + hex.EncodeToString(h[:16])
}

// Asynq's Redis layout (internal/base of github.com/hibiken/asynq v0.26):
// the task hash, the queue's pending list and the set of queue names.
func asynqTaskKey(queue, id string) string { return "asynq:{" + queue + "}:t:" + id }
func asynqPendingKey(queue string) string  { return "asynq:{" + queue + "}:pending" }

const asynqAllQueues = "asynq:queues"

// enqueueScript writes a job in one step.
//
// KEYS: 1 request key, 2 job hash, 3 live zset, 4 asynq task hash,
// 5 asynq pending list, 6 asynq queue set, 7 events stream.
// ARGV: 1 job id, 2 meta JSON, 3 action, 4 queue, 5 record TTL s,
// 6 enqueue time ms, 7 asynq message, 8 now ns, 9 request TTL s,
// 10 queued event JSON, 11 events max length, 12 events channel.
//
// Returns {"dup", id, meta} when the request already made job id,
// {"gone"} when the request was abandoned, {"taken"} when the job id is in
// use, {"ok"} when the job was written.
var enqueueScript = redis.NewScript(`
local prior = redis.call("GET", KEYS[1])
if prior == "!" then return {"gone"} end
if prior then
  return {"dup", prior, redis.call("HGET", "backupbot:job:" .. prior, "meta") or ""}
end
if redis.call("EXISTS", KEYS[2]) == 1 or redis.call("EXISTS", KEYS[4]) == 1 then return {"taken"} end
redis.call("HSET", KEYS[2], "meta", ARGV[2], "action", ARGV[3], "queue", ARGV[4], "state", "queued", "attempt", "0")
redis.call("EXPIRE", KEYS[2], ARGV[5])
redis.call("ZADD", KEYS[3], ARGV[6], ARGV[1])
redis.call("SADD", KEYS[6], ARGV[4])
redis.call("HSET", KEYS[4], "msg", ARGV[7], "state", "pending", "pending_since", ARGV[8])
redis.call("LPUSH", KEYS[5], ARGV[1])
redis.call("SET", KEYS[1], ARGV[1], "EX", ARGV[9])
redis.call("XADD", KEYS[7], "MAXLEN", "~", ARGV[11], "*", "event", ARGV[10])
redis.call("PUBLISH", ARGV[12], ARGV[10])
return {"ok"}`)

// settleScript answers what became of an enqueue whose reply was lost:
// the job id when it landed, else it writes the tombstone (so that the
// lost call, should Redis still run it, refuses) and returns "!".
// KEYS: request key. ARGV: TTL seconds.
var settleScript = redis.NewScript(`
local v = redis.call("GET", KEYS[1])
if v then return v end
redis.call("SET", KEYS[1], "!", "EX", ARGV[1])
return "!"`)

// EnqueueOnce is Enqueue for a request that may arrive more than once (a
// replayed or retried webhook): key names the request (e.g. "slack:" and
// the trigger id). The first call queues the job; a call with the same key
// within RequestKeyTTL returns the job the first one made, with replayed
// set, and queues nothing.
//
// The enqueue is one atomic Redis step. When its answer is lost (ctx ends,
// the connection drops), EnqueueOnce settles the outcome with a short call
// of its own that outlives ctx: it then returns the job (landed) or an
// error wrapping ErrNotQueued (it never will). Only when Redis does not
// answer that call either is the error ErrQueueUncertain, with meta.JobID
// set so the caller can point at `/backup status`.
func (c *Client) EnqueueOnce(ctx context.Context, cmd commands.Command, meta Meta, key string) (_ Meta, replayed bool, _ error) {
	if cmd == nil {
		return meta, false, errors.New("enqueue: no command")
	}
	spec, ok := specs[cmd.Action()]
	if !ok {
		return meta, false, fmt.Errorf("enqueue: %q is answered at once, not run as a job", cmd.Action())
	}
	if key == "" {
		key = "once:" + newJobID() + newJobID() + newJobID() + newJobID()
	}
	queue := spec.Queue
	if meta.Schedule != "" {
		queue = QueueScheduled
	}
	meta.EnqueuedAt = time.Now().UTC()
	cmd, err := commands.Redact(cmd, c.redact) // no secret goes into Redis
	if err != nil {
		return meta, false, fmt.Errorf("enqueue: %w: %w", err, ErrNotQueued)
	}
	if meta.Text == "" {
		meta.Text = commands.Render(cmd)
	}
	meta = redactMeta(meta, c.redact)
	action := string(cmd.Action())
	rkey := requestKey(key)
	// A round trip first: when Redis is down or hung, nothing has been
	// sent yet, so the job provably will not run.
	if err := bounded(ctx, func(ctx context.Context) error { return c.rdb.Ping(ctx).Err() }); err != nil {
		return meta, false, fmt.Errorf("the job queue (Redis) did not answer (%w): %w", err, ErrNotQueued)
	}
	for range 5 {
		meta.JobID = newJobID()
		args, err := c.enqueueArgs(cmd, meta, spec, queue)
		if err != nil {
			return meta, false, err
		}
		keys := []string{rkey, jobKey(meta.JobID), liveJobsKey, asynqTaskKey(queue, meta.JobID),
			asynqPendingKey(queue), asynqAllQueues, eventsStream}
		var res []any
		err = bounded(ctx, func(ctx context.Context) (err error) {
			res, err = enqueueScript.Run(ctx, c.rdb, keys, args...).Slice()
			return err
		})
		if err != nil {
			return c.settle(ctx, meta, rkey, err)
		}
		switch verdict(res, 0) {
		case "ok":
			c.log.Debug("job enqueued", "job", meta.JobID, "action", action, "queue", queue)
			return meta, false, nil
		case "dup":
			prior := meta
			prior.JobID = verdict(res, 1)
			if raw := verdict(res, 2); raw != "" {
				_ = json.Unmarshal([]byte(raw), &prior)
			}
			return prior, true, nil
		case "gone":
			return meta, false, fmt.Errorf("enqueue: this request was already given up on: %w", ErrNotQueued)
		case "taken":
			continue // a random id in use: draw another
		default:
			return meta, false, fmt.Errorf("enqueue: unexpected answer %v from Redis: %w", res, ErrNotQueued)
		}
	}
	return meta, false, fmt.Errorf("enqueue: could not find a free job id after 5 tries: %w", ErrNotQueued)
}

// settle finds out, after the enqueue call failed with cause, whether the
// job landed; see EnqueueOnce.
func (c *Client) settle(ctx context.Context, meta Meta, rkey string, cause error) (Meta, bool, error) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	for {
		var v string
		err := bounded(sctx, func(ctx context.Context) (err error) {
			v, err = settleScript.Run(ctx, c.rdb, []string{rkey}, int(RequestKeyTTL.Seconds())).Text()
			return err
		})
		switch {
		case err == nil && v == tombstone:
			c.log.Info("enqueue abandoned: the job will not run", "job", meta.JobID, "cause", cause)
			return meta, false, fmt.Errorf("enqueue of job %s did not complete (%w): %w", meta.JobID, cause, ErrNotQueued)
		case err == nil:
			c.log.Info("enqueue landed although its answer was lost", "job", v, "cause", cause)
			meta.JobID = v
			return meta, false, nil
		}
		select {
		case <-sctx.Done():
			c.log.Warn("enqueue: Redis did not answer whether the job was queued", "job", meta.JobID, "cause", cause, "err", err)
			return meta, false, fmt.Errorf("job %s (%w): %w", meta.JobID, cause, ErrQueueUncertain)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// bounded runs call and returns its error, or ctx's as soon as ctx ends
// (a Redis client without ContextTimeoutEnabled would otherwise wait for
// its own read timeout). A call abandoned this way finishes in the
// background; the settle step makes that safe.
func bounded(ctx context.Context, call func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- call(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func verdict(res []any, i int) string {
	if i >= len(res) {
		return ""
	}
	s, _ := res[i].(string)
	return s
}

// enqueueArgs are enqueueScript's ARGV for one attempt.
func (c *Client) enqueueArgs(cmd commands.Command, meta Meta, spec actionSpec, queue string) ([]any, error) {
	mb, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("encode job meta: %w", err)
	}
	body, err := encodePayload(cmd, meta)
	if err != nil {
		return nil, err
	}
	action := string(cmd.Action())
	ev, err := json.Marshal(Event{Kind: EventQueued, Meta: meta, Action: action, At: time.Now()})
	if err != nil {
		return nil, fmt.Errorf("encode queued event of job %s: %w", meta.JobID, err)
	}
	// asynq never retries less than once, so that a job handed back by a
	// stopping worker is requeued rather than archived; the worker applies
	// the action's own retry count to failures.
	msg := asynqMessage(TaskType(cmd.Action()), body, meta.JobID, queue, max(spec.MaxRetry, 1), spec.Timeout)
	return []any{
		meta.JobID, string(mb), action, queue, int(liveTTL.Seconds()),
		meta.EnqueuedAt.UnixMilli(), msg, time.Now().UnixNano(), int(RequestKeyTTL.Seconds()),
		string(ev), EventsMaxLen, eventsChannel,
	}, nil
}

// asynqMessage encodes a task the way asynq's client does
// (base.EncodeMessage: the TaskMessage protobuf of asynq v0.26): type 1,
// payload 2, id 3, queue 4, retry 5, timeout 8; deadline 9 stays 0 (none).
// TestEnqueueScriptTaskReadByAsynq checks asynq's inspector and server
// read it back.
func asynqMessage(typ string, payload []byte, id, queue string, retry int, timeout time.Duration) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, typ)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, payload)
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendString(b, id)
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	b = protowire.AppendString(b, queue)
	if retry != 0 {
		b = protowire.AppendTag(b, 5, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(int32(retry))))
	}
	if s := int64(timeout.Seconds()); s != 0 {
		b = protowire.AppendTag(b, 8, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(s))
	}
	return b
}
