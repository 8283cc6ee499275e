package jobs

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/storage/engine"
)

// EventKind says what happened to a job.
type EventKind string

// Event kinds, in the order a job normally sees them.
const (
	EventQueued    EventKind = "queued"
	EventStarted   EventKind = "started"
	EventProgress  EventKind = "progress"
	EventRetrying  EventKind = "retrying"
	EventSucceeded EventKind = "succeeded"
	EventFailed    EventKind = "failed"
	EventCanceled  EventKind = "canceled"
)

// Final reports whether no further event follows this one for the job:
// the final kinds are named after the final states (State.Final).
func (k EventKind) Final() bool {
	return State(k).Final()
}

// Event is one thing that happened to a job, as workers publish it and
// Subscribe delivers it.
type Event struct {
	Kind EventKind `json:"kind"`
	Meta Meta      `json:"meta"`
	// Action is the job's action (create, restore, ...).
	Action string `json:"action"`
	// Attempt counts runs of the job: 1 for the first, 2 after one retry.
	Attempt int `json:"attempt,omitempty"`
	// Progress is set on progress events (and on started, as the first report).
	Progress *Progress `json:"progress,omitempty"`
	// Result is set on succeeded events, and on failed events of jobs whose
	// work ran to the end and found the failure (FailedWithResult: a verify
	// that found damage); retrying those cannot help.
	Result *Result `json:"result,omitempty"`
	// Error says why on failed, retrying and canceled events, in words an
	// engineer can act on.
	Error string `json:"error,omitempty"`
	// Refused is set on a failed event when the worker's policy re-check
	// refused the job (the requester lost the role since enqueueing).
	Refused bool `json:"refused,omitempty"`
	// StoragePermanent is set on a failed event whose cause is a storage
	// failure no retry can fix (the storage is full, permission or
	// credentials refused, the bucket or container missing): the job was
	// not retried, and chat offers no Retry button, which would fail the
	// same way until the operator fixes the storage.
	StoragePermanent bool `json:"storage_permanent,omitempty"`
	// Permanent is set on a failed event whose error a retry cannot fix
	// (ErrPermanent: an unknown snapshot name, an unsupported resource, a
	// bad path, a wrong password, a time limit): chat offers no Retry
	// button, which would fail the same way.
	Permanent bool      `json:"permanent,omitempty"`
	At        time.Time `json:"at"`
}

// Progress is how far a running job has got: the engine's report (its
// fields appear at the top level in JSON), with the rate and ETA the job's
// progress relay works out.
type Progress struct {
	engine.Progress
	// Rate is bytes per second over the last few seconds.
	Rate float64 `json:"rate"`
	// ETA is the estimated time left; 0 when unknown.
	ETA time.Duration `json:"eta"`
}

// Fraction returns the share done, 0..1, by bytes when their total is
// known, else by files; -1 when neither total is known.
func (p Progress) Fraction() float64 {
	switch {
	case p.BytesTotal > 0:
		return clamp01(float64(p.Bytes) / float64(p.BytesTotal))
	case p.FilesTotal > 0:
		return clamp01(float64(p.Files) / float64(p.FilesTotal))
	}
	return -1
}

func clamp01(f float64) float64 {
	return min(max(f, 0), 1)
}

// Field is one label/value pair of a result (shown as a table in chat).
type Field struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// Report is long output attached to the thread as a file.
type Report struct {
	Name string `json:"name"`
	Data []byte `json:"data"`
	// Path, when set, is where the worker wrote the whole report (Data is
	// then a preview of at most PreviewLimit bytes).
	Path string `json:"path,omitempty"`
}

// Plan is what a restore does (or would do). Bytes gives a stable encoding
// for policy.PlanHash, so an approval is bound to this exact plan.
type Plan struct {
	// Snapshot is the ID of the snapshot the plan restores.
	Snapshot string      `json:"snapshot"`
	Entries  []PlanEntry `json:"entries"`
}

// PlanEntry is one path of a Plan.
type PlanEntry struct {
	Path string `json:"path"`
	// Action is create, overwrite or unchanged.
	Action string `json:"action"`
	Size   int64  `json:"size"`
}

// Bytes returns the plan's canonical encoding (JSON, entries in plan order).
func (p *Plan) Bytes() []byte {
	if p == nil {
		return nil
	}
	b, err := json.Marshal(p)
	if err != nil { // a Plan of strings and ints always marshals
		panic(fmt.Sprintf("jobs: marshal plan: %v", err))
	}
	return b
}

// Result is what a finished job says.
type Result struct {
	// Summary is one line ("Backup data-20250115-0200 done: 1,204 files, 52 MB added").
	Summary string  `json:"summary"`
	Fields  []Field `json:"fields,omitempty"`
	// Report is long output (a listing, a verify report) to attach as a file.
	Report *Report `json:"report,omitempty"`
	// Plan is set by a restore (always by a preview).
	Plan *Plan `json:"plan,omitempty"`
	// Data is the action's machine-readable result (JSON), for --json
	// consumers and the dashboard.
	Data json.RawMessage `json:"data,omitempty"`
	// Partial is set when the job did only part of what was asked (list
	// --storage all with a storage that could not be read); the summary
	// names what is missing; or a backup that could not read some files.
	// Shown with ⚠️, never ✅; exit code 3.
	Partial bool `json:"partial,omitempty"`
	// Repository is the storage's repository size after the job (a backup
	// or cleanup), for the size metric and the size-limit incident.
	Repository *RepositorySize `json:"repository,omitempty"`
}

// RepositorySize is a repository's size as its index tells it after a job.
type RepositorySize struct {
	Storage string `json:"storage"`
	Bytes   int64  `json:"bytes"`
	// Limit is the storage's size_limit in bytes (0: none), LimitText as
	// the config writes it.
	Limit     int64  `json:"limit,omitempty"`
	LimitText string `json:"limit_text,omitempty"`
}

// Redis names of the event feed. Lifecycle events (queued, started,
// retrying, succeeded, failed, canceled) go to a durable stream that chat
// relays read with a consumer group and acknowledge after posting (Consume),
// so a relay that was down posts what it missed; progress events go to a
// small stream of their own that is read from its tail and may be lost or
// coalesced (a later one supersedes an earlier one). Every event is also
// published on a pub/sub channel for external watchers
// (`redis-cli subscribe backupbot:events`).
const (
	eventsStream   = "backupbot:events"
	progressStream = "backupbot:events:progress"
	eventsChannel  = "backupbot:events"
	// EventsMaxLen bounds the durable stream (approximately, MAXLEN ~):
	// about four lifecycle events per job, so the last ~25,000 jobs. A
	// relay that stays down while more than this many lifecycle events
	// are published misses the oldest of them.
	EventsMaxLen = 100000
	// progressMaxLen bounds the progress stream: only its tail matters.
	progressMaxLen = 2000
)

// streamOf returns the stream an event of kind k goes to.
func streamOf(k EventKind) string {
	if k == EventProgress {
		return progressStream
	}
	return eventsStream
}

// publish sends ev to every subscriber, once.
func publish(ctx context.Context, rdb redis.UniversalClient, ev Event) error {
	if ev.At.IsZero() {
		ev.At = time.Now()
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode %s event of job %s: %w", ev.Kind, ev.Meta.JobID, err)
	}
	maxLen := int64(EventsMaxLen)
	if ev.Kind == EventProgress {
		maxLen = progressMaxLen
	}
	pipe := rdb.Pipeline()
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: streamOf(ev.Kind), MaxLen: maxLen, Approx: true, Values: []any{"event", b}})
	pipe.Publish(ctx, eventsChannel, b)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("publish %s event of job %s: %w", ev.Kind, ev.Meta.JobID, err)
	}
	return nil
}

// publishDurable publishes a lifecycle event and keeps retrying through a
// Redis outage (backing off up to 5 s between tries) until it lands, ctx
// ends or patience runs out: a result must not be dropped because Redis
// blinked. Progress events are not worth waiting for: use publish.
func publishDurable(ctx context.Context, rdb redis.UniversalClient, log *slog.Logger, ev Event) error {
	return retryRedis(ctx, log, "publish the "+string(ev.Kind)+" event of job "+ev.Meta.JobID, func() error {
		return publish(ctx, rdb, ev)
	})
}

// durablePatience bounds how long a worker keeps retrying a Redis write
// that records how a job ended.
const durablePatience = time.Hour

// retryRedis runs fn until it succeeds, ctx ends or durablePatience
// passes, backing off from 100 ms to 5 s; it logs a warning now and then
// while Redis stays unreachable.
func retryRedis(ctx context.Context, log *slog.Logger, what string, fn func() error) error {
	wait := 100 * time.Millisecond
	deadline := time.Now().Add(durablePatience)
	lastLog := time.Time{}
	for {
		err := fn()
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		if time.Since(lastLog) > 30*time.Second {
			log.Warn("Redis unreachable; retrying until it answers", "what", what, "err", err)
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// SubscribeOptions tune Subscribe; the zero value is what the service uses.
type SubscribeOptions struct {
	// RetryDelay is the pause after a Redis error before trying again
	// (default 500 ms).
	RetryDelay time.Duration
	// OnError, when set, is told about each Redis error (the subscription
	// keeps going).
	OnError func(error)
}

// Subscribe calls fn for every event (lifecycle and progress) published
// from now on, in order per stream, until ctx is done; it then returns
// ctx's error. It survives Redis restarts and network errors: it retries
// and resumes after the last event it delivered, so events published while
// the connection was down are delivered late, not lost (unless Redis
// itself lost them). It keeps no state in Redis, so events published while
// the subscriber's process is down are not delivered: chat relays use
// Consume. fn runs on Subscribe's goroutine: keep it quick or hand off.
func Subscribe(ctx context.Context, rdb redis.UniversalClient, fn func(Event)) error {
	return SubscribeWith(ctx, rdb, SubscribeOptions{}, fn)
}

// SubscribeWith is Subscribe with options.
func SubscribeWith(ctx context.Context, rdb redis.UniversalClient, o SubscribeOptions, fn func(Event)) error {
	return tail(ctx, rdb, o, []string{eventsStream, progressStream}, fn)
}

// tail reads streams from their current end on, delivering each event.
func tail(ctx context.Context, rdb redis.UniversalClient, o SubscribeOptions, streams []string, fn func(Event)) error {
	if o.RetryDelay <= 0 {
		o.RetryDelay = 500 * time.Millisecond
	}
	last := make([]string, len(streams))
	resolve := func() {
		// Resolve "$" to a concrete ID at once, so events published
		// between this call and the first XREAD are not missed.
		for i, s := range streams {
			if last[i] != "" && last[i] != "$" {
				continue
			}
			last[i] = "$"
			if id, err := lastStreamID(ctx, rdb, s); err == nil {
				last[i] = id
			}
		}
	}
	resolve()
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		res, err := rdb.XRead(ctx, &redis.XReadArgs{Streams: append(append([]string{}, streams...), last...), Block: time.Second, Count: 100}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if o.OnError != nil {
				o.OnError(fmt.Errorf("read job events from Redis: %w", err))
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(o.RetryDelay):
			}
			resolve()
			continue
		}
		// Deliver in publish order across the streams: stream IDs are
		// times on one server, so merge by ID.
		var msgs []redis.XMessage
		for _, s := range res {
			if i := slices.Index(streams, s.Stream); i >= 0 && len(s.Messages) > 0 {
				last[i] = s.Messages[len(s.Messages)-1].ID
			}
			msgs = append(msgs, s.Messages...)
		}
		slices.SortStableFunc(msgs, func(a, b redis.XMessage) int { return compareIDs(a.ID, b.ID) })
		for _, m := range msgs {
			ev, err := decodeEvent(m)
			if err != nil {
				if o.OnError != nil {
					o.OnError(err)
				}
				continue
			}
			fn(ev)
		}
	}
}

func decodeEvent(m redis.XMessage) (Event, error) {
	raw, _ := m.Values["event"].(string)
	var ev Event
	if err := json.Unmarshal([]byte(raw), &ev); err != nil {
		return ev, fmt.Errorf("decode job event %s: %w", m.ID, err)
	}
	return ev, nil
}

// lastStreamID returns the ID of the newest event of stream, or "0-0" when
// there is none.
func lastStreamID(ctx context.Context, rdb redis.UniversalClient, stream string) (string, error) {
	msgs, err := rdb.XRevRangeN(ctx, stream, "+", "-", 1).Result()
	if err != nil {
		return "", err
	}
	if len(msgs) == 0 {
		return "0-0", nil
	}
	return msgs[0].ID, nil
}

// compareIDs orders two stream IDs ("ms-seq").
func compareIDs(a, b string) int {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	an, _ := strconv.ParseUint(am, 10, 64)
	bn, _ := strconv.ParseUint(bm, 10, 64)
	if c := cmp.Compare(an, bn); c != 0 {
		return c
	}
	asq, _ := strconv.ParseUint(as, 10, 64)
	bsq, _ := strconv.ParseUint(bs, 10, 64)
	return cmp.Compare(asq, bsq)
}
