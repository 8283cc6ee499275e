// Package compliance computes what the dashboard at / and
// `/backup analyze --report compliance` show about every target: its last
// good backup and age, success rates over 7 and 30 days, backup coverage,
// retention compliance, 3-2-1 status and the RPO achieved against its
// schedule. Compute is the one place these figures are worked out.
//
// The job history they come from is kept in Redis by History (bounded
// lists written by the worker's metrics recorder at every job's end), so
// any process with a Redis connection sees the same figures.
package compliance

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis keys of the history.
const (
	jobsKey      = "backupbot:history:jobs"      // list of Job JSON, newest first
	samplesKey   = "backupbot:history:size:"     // + storage: list of Sample JSON, newest first
	storedKey    = "backupbot:history:stored"    // hash storage -> bytes added minus bytes freed
	snapshotsKey = "backupbot:history:snapshots" // hash storage\x1fsnapshot id -> Snap JSON
	storagesKey  = "backupbot:history:storages"  // set of storages with size samples
)

// Bounds of the history.
const (
	// MaxJobs is how many finished jobs the history keeps (30 days of
	// hourly backups of a few targets, with their verifies).
	MaxJobs = 5000
	// MaxSamples is how many size samples it keeps per storage.
	MaxSamples = 500
	// MaxSnapshots bounds the snapshot inventory; beyond it the oldest
	// entries are dropped (retention normally keeps it far smaller).
	MaxSnapshots = 20000
)

// Job is one finished job as the history keeps it.
type Job struct {
	ID       string `json:"id"`
	Action   string `json:"action"`
	Result   string `json:"result"` // succeeded, failed, canceled
	Text     string `json:"text,omitempty"`
	Schedule string `json:"schedule,omitempty"`
	// Targets are the targets a backup covered (or was to cover, when it failed).
	Targets []string  `json:"targets,omitempty"`
	Storage string    `json:"storage,omitempty"`
	Start   time.Time `json:"start,omitzero"`
	End     time.Time `json:"end"`
	// BytesRead and BytesAdded are a backup's (summed over its targets).
	BytesRead  int64 `json:"bytes_read,omitempty"`
	BytesAdded int64 `json:"bytes_added,omitempty"`
	// Problems is what a verify found.
	Problems int `json:"problems,omitempty"`
	// RestoreTest is set for a verify that restored data as a recovery test.
	RestoreTest bool   `json:"restore_test,omitempty"`
	Error       string `json:"error,omitempty"`
}

// Duration is how long the job's last attempt ran (0 when unknown).
func (j Job) Duration() time.Duration {
	if j.Start.IsZero() || !j.End.After(j.Start) {
		return 0
	}
	return j.End.Sub(j.Start)
}

// Speed is bytes read per second (0 when unknown).
func (j Job) Speed() float64 {
	if d := j.Duration().Seconds(); d > 0 {
		return float64(j.BytesRead) / d
	}
	return 0
}

// OK says the job succeeded and, for a verify, found nothing wrong.
func (j Job) OK() bool { return j.Result == "succeeded" && j.Problems == 0 }

// Sample is the bytes a storage holds after a job changed it.
type Sample struct {
	At    time.Time `json:"at"`
	Bytes int64     `json:"bytes"`
}

// Snap is one snapshot in a storage, as backups reported it.
type Snap struct {
	Storage   string    `json:"storage"`
	ID        string    `json:"id"`
	Name      string    `json:"name,omitempty"`
	Target    string    `json:"target"`
	Type      string    `json:"type,omitempty"`
	Schedule  string    `json:"schedule,omitempty"`
	Time      time.Time `json:"time"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	Partial   bool      `json:"partial,omitempty"`
}

// Change is what one finished job did, for History.Add.
type Change struct {
	Job Job
	// Added are the snapshots it made; Removed those it deleted.
	Added, Removed []Snap
	// Storage, when set, is the storage the job changed (a backup, a
	// cleanup): a size sample is recorded for it: Size, the repository's
	// size as its index tells it after the job, when the job reported it;
	// else Delta bytes (added: positive, freed: negative) from the last one.
	Storage string
	Delta   int64
	Size    *int64
}

// History is the bounded job history in Redis.
type History struct{ rdb redis.UniversalClient }

// NewHistory returns the history on rdb.
func NewHistory(rdb redis.UniversalClient) *History { return &History{rdb: rdb} }

const sep = "\x1f"

// Add records a finished job, the snapshots it added or removed, and
// the storage's new size.
func (h *History) Add(ctx context.Context, c Change) error {
	jb, err := json.Marshal(c.Job)
	if err != nil {
		return fmt.Errorf("history: encode job %s: %w", c.Job.ID, err)
	}
	var stored int64
	if c.Storage != "" && c.Size != nil {
		stored = *c.Size
		if err := h.rdb.HSet(ctx, storedKey, c.Storage, stored).Err(); err != nil {
			return fmt.Errorf("history: record the size of storage %s: %w", c.Storage, err)
		}
	} else if c.Storage != "" {
		if stored, err = h.rdb.HIncrBy(ctx, storedKey, c.Storage, c.Delta).Result(); err != nil {
			return fmt.Errorf("history: update the size of storage %s: %w", c.Storage, err)
		}
		if stored < 0 { // freed more than was recorded as added (history began after the data)
			stored = 0
			h.rdb.HSet(ctx, storedKey, c.Storage, 0)
		}
	}
	_, err = h.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, jobsKey, jb)
		p.LTrim(ctx, jobsKey, 0, MaxJobs-1)
		if c.Storage != "" {
			sb, _ := json.Marshal(Sample{At: c.Job.End, Bytes: stored})
			p.LPush(ctx, samplesKey+c.Storage, sb)
			p.LTrim(ctx, samplesKey+c.Storage, 0, MaxSamples-1)
			p.SAdd(ctx, storagesKey, c.Storage)
		}
		for _, s := range c.Added {
			b, _ := json.Marshal(s)
			p.HSet(ctx, snapshotsKey, s.Storage+sep+s.ID, b)
		}
		for _, s := range c.Removed {
			p.HDel(ctx, snapshotsKey, s.Storage+sep+s.ID)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("history: record job %s in Redis: %w", c.Job.ID, err)
	}
	if len(c.Added) > 0 {
		return h.bound(ctx)
	}
	return nil
}

// bound drops the oldest snapshot entries beyond MaxSnapshots.
func (h *History) bound(ctx context.Context) error {
	n, err := h.rdb.HLen(ctx, snapshotsKey).Result()
	if err != nil || n <= MaxSnapshots {
		return err
	}
	snaps, err := h.Snapshots(ctx)
	if err != nil {
		return err
	}
	var drop []string
	for _, s := range snaps[:len(snaps)-MaxSnapshots] { // oldest first
		drop = append(drop, s.Storage+sep+s.ID)
	}
	return h.rdb.HDel(ctx, snapshotsKey, drop...).Err()
}

// Jobs returns the recorded jobs, newest first.
func (h *History) Jobs(ctx context.Context) ([]Job, error) {
	raw, err := h.rdb.LRange(ctx, jobsKey, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("history: read the job history from Redis: %w", err)
	}
	return decodeEach[Job](raw), nil
}

// Samples returns each storage's size samples, oldest first.
func (h *History) Samples(ctx context.Context) (map[string][]Sample, error) {
	names, err := h.rdb.SMembers(ctx, storagesKey).Result()
	if err != nil {
		return nil, fmt.Errorf("history: list size samples in Redis: %w", err)
	}
	out := make(map[string][]Sample, len(names))
	for _, name := range names {
		raw, err := h.rdb.LRange(ctx, samplesKey+name, 0, -1).Result()
		if err != nil {
			return nil, fmt.Errorf("history: read size samples from Redis: %w", err)
		}
		ss := decodeEach[Sample](raw) // newest first, as pushed
		slices.Reverse(ss)
		out[name] = ss
	}
	return out, nil
}

// Snapshots returns the snapshot inventory, oldest first.
func (h *History) Snapshots(ctx context.Context) ([]Snap, error) {
	raw, err := h.rdb.HGetAll(ctx, snapshotsKey).Result()
	if err != nil {
		return nil, fmt.Errorf("history: read the snapshot inventory from Redis: %w", err)
	}
	out := decodeEach[Snap](slices.Collect(maps.Values(raw)))
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// decodeEach decodes each JSON text, skipping any that does not decode (a
// record another version wrote).
func decodeEach[T any](texts []string) []T {
	out := make([]T, 0, len(texts))
	for _, text := range texts {
		var v T
		if json.Unmarshal([]byte(text), &v) == nil {
			out = append(out, v)
		}
	}
	return out
}
