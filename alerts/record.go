package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/jobs"
)

// Redis keys of the metric state (small hashes, one field per series).
const (
	// countersKey holds monotonically growing values: job totals, bytes,
	// duration histogram buckets, sums and counts.
	countersKey = "backupbot:metrics:counters"
	// gaugesKey holds last-known values: per target last success time and
	// status, last dedup and compression ratios, per storage verify state.
	gaugesKey = "backupbot:metrics:gauges"
	// startedKey maps a running job's ID to when its attempt started.
	startedKey = "backupbot:metrics:started"
)

// scheduleSuccess fields hold when a schedule last had a good run (not
// exported as a metric: the missed-schedule check reads them).
const scheduleSuccess = "schedule_success"

// sep joins the parts of a hash field (metric name, label values); it
// cannot occur in target, storage or schedule names.
const sep = "\x1f"

// DurationBuckets are the job duration histogram's upper bounds in
// seconds: one second to one day, dense from minutes to hours.
var DurationBuckets = []float64{1, 10, 30, 60, 120, 300, 600, 900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 16 * 3600, 24 * 3600}

// Recorder writes job outcomes to Redis. Use Record as (part of) a worker's
// jobs.Deps.Audit hook: it is called with every started, retrying,
// succeeded, failed and canceled event.
type Recorder struct {
	rdb    redis.UniversalClient
	config func() *config.File
	log    *slog.Logger
}

// NewRecorder returns a Recorder on rdb. cfg resolves the storage and
// target names a job's command refers to (the same config the worker uses).
func NewRecorder(rdb redis.UniversalClient, cfg func() *config.File, logger *slog.Logger) *Recorder {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Recorder{rdb: rdb, config: cfg, log: logger}
}

// Record updates the metric state for ev. Errors are logged, never
// returned: metrics must not fail a job.
func (r *Recorder) Record(ctx context.Context, ev jobs.Event) {
	if err := r.record(ctx, ev); err != nil {
		r.log.Warn("metrics: could not record the job's outcome in Redis; /metrics will lag until the next job", "job", ev.Meta.JobID, "err", err)
	}
}

func (r *Recorder) record(ctx context.Context, ev jobs.Event) error {
	id := ev.Meta.JobID
	switch ev.Kind {
	case jobs.EventStarted:
		return r.rdb.HSet(ctx, startedKey, id, ev.At.UnixNano()).Err()
	case jobs.EventSucceeded, jobs.EventFailed, jobs.EventCanceled:
	default:
		return nil
	}
	start := ev.Meta.EnqueuedAt
	if ns, err := r.rdb.HGet(ctx, startedKey, id).Int64(); err == nil {
		start = time.Unix(0, ns)
	}
	result := map[jobs.EventKind]string{jobs.EventSucceeded: "succeeded", jobs.EventFailed: "failed", jobs.EventCanceled: "canceled"}[ev.Kind]
	counters := map[string]float64{field("total", ev.Action, result): 1}
	gauges := map[string]float64{}
	if !start.IsZero() && ev.At.After(start) {
		d := ev.At.Sub(start).Seconds()
		counters[field("dur_sum", ev.Action)] = d
		counters[field("dur_count", ev.Action)] = 1
		for _, le := range DurationBuckets {
			if d <= le {
				counters[field("dur_bucket", ev.Action, formatFloat(le))] = 1
			}
		}
	}
	if rs := ev.Result; ev.Kind == jobs.EventSucceeded && rs != nil && rs.Repository != nil {
		gauges[field("repo_size", rs.Repository.Storage)] = float64(rs.Repository.Bytes)
	}
	cmd := r.command(ev)
	switch c := cmd.(type) {
	case *commands.Create:
		r.backup(ev, c, counters, gauges)
	case *commands.Verify:
		r.verify(ev, c, gauges)
	case *commands.Test:
		if ev.Kind != jobs.EventCanceled {
			storage := r.storageName(c.Storage)
			gauges[field("test_status", storage)] = b2f(ev.Kind == jobs.EventSucceeded)
			gauges[field("test_time", storage)] = float64(ev.At.UnixNano()) / 1e9
		}
	}
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for f, v := range counters {
			p.HIncrByFloat(ctx, countersKey, f, v)
		}
		for f, v := range gauges {
			p.HSet(ctx, gaugesKey, f, formatFloat(v))
		}
		p.HDel(ctx, startedKey, id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("update %s: %w", countersKey, err)
	}
	return r.history(ctx, ev, cmd, start, result)
}

// command parses the job's canonical command text (nil when it does not parse).
func (r *Recorder) command(ev jobs.Event) commands.Command {
	var p commands.Parser
	if cfg := r.cfg(); cfg != nil {
		p = cfg.Parser()
	}
	cmd, err := p.Parse(ev.Meta.Text)
	if err != nil {
		r.log.Debug("metrics: job text does not parse", "job", ev.Meta.JobID, "err", err)
		return nil
	}
	return cmd
}

func (r *Recorder) cfg() *config.File {
	if r.config == nil {
		return nil
	}
	return r.config()
}

// storageName names the storage a command refers to ("" when unknown).
func (r *Recorder) storageName(ref commands.StorageRef) string {
	if cfg := r.cfg(); cfg != nil {
		if ns, err := cfg.ResolveStorage(ref); err == nil {
			return ns.Name
		}
	}
	return ref.Name
}

// backupData is the part of a create job's result (engine.BackupResult,
// one per target) the metrics read.
type backupData struct {
	Snapshot struct {
		Target string `json:"target"`
		Size   int64  `json:"size"`
	} `json:"snapshot"`
	BytesRead        int64   `json:"bytes_read"`
	BytesAdded       int64   `json:"bytes_added"`
	DedupRatio       float64 `json:"dedup_ratio"`
	CompressionRatio float64 `json:"compression_ratio"`
}

func (r *Recorder) backup(ev jobs.Event, c *commands.Create, counters, gauges map[string]float64) {
	storage := r.storageName(c.Storage)
	at := float64(ev.At.UnixNano()) / 1e9
	if ev.Kind == jobs.EventSucceeded && ev.Result != nil {
		var rs []backupData
		if err := json.Unmarshal(ev.Result.Data, &rs); err != nil {
			r.log.Warn("metrics: unreadable backup result", "job", ev.Meta.JobID, "err", err)
			return
		}
		for _, b := range rs {
			t := b.Snapshot.Target
			gauges[field("last_success", t, storage, ev.Meta.Schedule)] = at
			if ev.Meta.Schedule != "" {
				gauges[field(scheduleSuccess, ev.Meta.Schedule)] = at
			}
			gauges[field("last_status", t)] = 1
			gauges[field("last_dedup", t)] = b.DedupRatio
			gauges[field("last_compression", t)] = b.CompressionRatio
			gauges[field("last_size", t)] = float64(b.Snapshot.Size)
			counters[field("read_bytes", t)] += float64(b.BytesRead)
			counters[field("added_bytes", t)] += float64(b.BytesAdded)
		}
		return
	}
	if ev.Kind != jobs.EventFailed {
		return
	}
	for _, t := range r.targets(c.Target) {
		gauges[field("last_status", t)] = 0
		gauges[field("last_failure", t, storage)] = at
	}
}

// verifyData is the part of a verify job's result (engine.VerifyReport) the metrics read.
type verifyData struct {
	Snapshots int               `json:"snapshots"`
	Problems  []json.RawMessage `json:"problems"`
}

func (r *Recorder) verify(ev jobs.Event, c *commands.Verify, gauges map[string]float64) {
	if ev.Kind == jobs.EventCanceled {
		return
	}
	if c.RestoreTest {
		r.drill(ev, gauges)
		return
	}
	storage := r.storageName(c.Storage)
	ok := ev.Kind == jobs.EventSucceeded
	if ok && ev.Result != nil {
		var v verifyData
		if err := json.Unmarshal(ev.Result.Data, &v); err == nil {
			ok = len(v.Problems) == 0
			gauges[field("verify_problems", storage)] = float64(len(v.Problems))
			gauges[field("snapshots", storage)] = float64(v.Snapshots)
		}
	}
	gauges[field("verify_time", storage)] = float64(ev.At.UnixNano()) / 1e9
	gauges[field("verify_status", storage)] = b2f(ok)
}

// drill records a recovery drill per target drilled (from the job's
// result, which a failed drill carries too): when, whether every file
// restored intact, and the measured RTO. A drill that could not run at all
// names no target and records nothing here (its failure is in
// backupbot_backup_total and raises an incident).
func (r *Recorder) drill(ev jobs.Event, gauges map[string]float64) {
	if ev.Result == nil || len(ev.Result.Data) == 0 {
		return
	}
	var d jobs.DrillData
	if err := json.Unmarshal(ev.Result.Data, &d); err != nil {
		r.log.Warn("metrics: unreadable recovery drill result", "job", ev.Meta.JobID, "err", err)
		return
	}
	at := float64(ev.At.UnixNano()) / 1e9
	for _, s := range d.Snapshots {
		t := s.Snapshot.Target
		gauges[field("drill_time", t)] = at
		gauges[field("drill_status", t)] = b2f(s.OK() && ev.Kind == jobs.EventSucceeded)
		if s.Bytes > 0 {
			gauges[field("drill_rto", t)] = s.RTOSecondsPerGiB
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func field(parts ...string) string { return strings.Join(parts, sep) }

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// Hooks combines worker event hooks (jobs.Deps.Audit) into one that calls
// each in order; nil hooks are skipped.
func Hooks(hooks ...func(context.Context, jobs.Event)) func(context.Context, jobs.Event) {
	return func(ctx context.Context, ev jobs.Event) {
		for _, h := range hooks {
			if h != nil {
				h(ctx, ev)
			}
		}
	}
}
