package alerts

import (
	"context"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/jobs"
)

// scrapeTimeout bounds the Redis reads of one scrape.
const scrapeTimeout = 3 * time.Second

// Collector exports the state Recorders keep in Redis, and the job queues'
// depth, reading them at each scrape. Register it on the registry /metrics
// serves; any process with a Redis connection gives the same values.
type Collector struct {
	rdb  redis.UniversalClient
	insp *asynq.Inspector
	log  *slog.Logger

	up, total, dur, readBytes, addedBytes                  *prometheus.Desc
	lastSuccess, lastFailure, lastStatus                   *prometheus.Desc
	dedup, compression, size                               *prometheus.Desc
	verifyStatus, verifyTime, verifyProblems, snapshots    *prometheus.Desc
	queuePending, queueLatency, queueActive, queueArchived *prometheus.Desc
	incidentsOpen, testStatus, testTime                    *prometheus.Desc
	drillTime, drillStatus, drillRTO, repoSize             *prometheus.Desc
}

// NewCollector returns a Collector reading rdb.
func NewCollector(rdb redis.UniversalClient, logger *slog.Logger) *Collector {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := prometheus.NewDesc
	return &Collector{
		rdb: rdb, insp: asynq.NewInspectorFromRedisClient(rdb), log: logger,
		up:             d("backupbot_metrics_state_up", "1 when the job metric state in Redis could be read at this scrape, 0 when not (the other backupbot_backup_* series are then missing).", nil, nil),
		total:          d("backupbot_backup_total", "Jobs ended, by action (create, verify, restore, ...) and result (succeeded, failed, canceled).", []string{"action", "result"}, nil),
		dur:            d("backupbot_job_duration_seconds", "Time from a job's last start to its end, by action.", []string{"action"}, nil),
		readBytes:      d("backupbot_backup_read_bytes_total", "Bytes read from a target's files by successful backups.", []string{"target"}, nil),
		addedBytes:     d("backupbot_backup_added_bytes_total", "Bytes successful backups of a target added to storage (after dedup and compression).", []string{"target"}, nil),
		lastSuccess:    d("backupbot_backup_last_success_timestamp_seconds", "When the last successful backup of a target to a storage ended (Unix time), by the schedule that ran it (\"\" for a chat command).", []string{"target", "storage", "schedule"}, nil),
		lastFailure:    d("backupbot_backup_last_failure_timestamp_seconds", "When the last failed backup of a target to a storage ended (Unix time).", []string{"target", "storage"}, nil),
		lastStatus:     d("backupbot_backup_last_status", "Outcome of a target's last backup: 1 succeeded, 0 failed.", []string{"target"}, nil),
		dedup:          d("backupbot_backup_last_dedup_ratio", "Dedup ratio of a target's last successful backup (bytes read / bytes after dedup).", []string{"target"}, nil),
		compression:    d("backupbot_backup_last_compression_ratio", "Compression ratio of a target's last successful backup.", []string{"target"}, nil),
		size:           d("backupbot_backup_last_size_bytes", "Size of the files in a target's last successful snapshot.", []string{"target"}, nil),
		verifyStatus:   d("backupbot_verify_last_status", "Outcome of the last verify of a storage: 1 no problems, 0 failed or problems found.", []string{"storage"}, nil),
		verifyTime:     d("backupbot_verify_last_timestamp_seconds", "When the last verify of a storage ended (Unix time).", []string{"storage"}, nil),
		verifyProblems: d("backupbot_verify_last_problems", "Problems the last completed verify of a storage found.", []string{"storage"}, nil),
		snapshots:      d("backupbot_repository_snapshots", "Snapshots in a storage's repository, as its last verify counted them.", []string{"storage"}, nil),
		queuePending:   d("backupbot_queue_pending_jobs", "Jobs waiting in a queue for a worker.", []string{"queue"}, nil),
		queueLatency:   d("backupbot_queue_oldest_pending_age_seconds", "How long the oldest pending job of a queue has waited (0 when none waits).", []string{"queue"}, nil),
		queueActive:    d("backupbot_queue_active_jobs", "Jobs of a queue a worker is running.", []string{"queue"}, nil),
		queueArchived:  d("backupbot_queue_dead_jobs", "Jobs of a queue that ran out of retries and were kept for inspection.", []string{"queue"}, nil),
		testStatus:     d("backupbot_storage_test_last_status", "Outcome of the last `test` of a storage (write, read back, delete a probe object): 1 passed, 0 failed.", []string{"storage"}, nil),
		testTime:       d("backupbot_storage_test_last_timestamp_seconds", "When the last `test` of a storage ended (Unix time).", []string{"storage"}, nil),
		drillTime:      d("backupbot_recovery_test_last_timestamp_seconds", "When the last recovery drill (verify --restore-test) of a target's backup ended (Unix time).", []string{"target"}, nil),
		drillStatus:    d("backupbot_recovery_test_last_success", "Outcome of the last recovery drill of a target's backup: 1 every file restored intact, 0 not.", []string{"target"}, nil),
		drillRTO:       d("backupbot_recovery_test_rto_seconds_per_gib", "Restore time per GiB restored measured by the last recovery drill of a target's backup that restored data.", []string{"target"}, nil),
		repoSize:       d("backupbot_repository_size_bytes", "Size of a storage's repository (its packs) after the last backup or cleanup on it.", []string{"storage"}, nil),
		incidentsOpen:  d("backupbot_incidents_open", "On-call incidents not yet resolved (open or acknowledged).", nil, nil),
	}
}

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.total, c.dur, c.readBytes, c.addedBytes, c.lastSuccess, c.lastFailure, c.lastStatus,
		c.dedup, c.compression, c.size, c.verifyStatus, c.verifyTime, c.verifyProblems, c.snapshots,
		c.queuePending, c.queueLatency, c.queueActive, c.queueArchived, c.incidentsOpen, c.testStatus, c.testTime,
		c.drillTime, c.drillStatus, c.drillRTO, c.repoSize} {
		ch <- d
	}
}

// Collect reads the state from Redis and sends it.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	counters, err1 := c.rdb.HGetAll(ctx, countersKey).Result()
	gauges, err2 := c.rdb.HGetAll(ctx, gaugesKey).Result()
	if err := firstErr(err1, err2); err != nil {
		c.log.Warn("metrics: could not read the job metric state from Redis", "err", err)
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	c.collectCounters(ch, counters)
	gaugeDescs := map[string]*prometheus.Desc{
		"last_success": c.lastSuccess, "last_failure": c.lastFailure, "last_status": c.lastStatus,
		"last_dedup": c.dedup, "last_compression": c.compression, "last_size": c.size,
		"verify_status": c.verifyStatus, "verify_time": c.verifyTime, "verify_problems": c.verifyProblems, "snapshots": c.snapshots,
		"test_status": c.testStatus, "test_time": c.testTime,
		"drill_time": c.drillTime, "drill_status": c.drillStatus, "drill_rto": c.drillRTO, "repo_size": c.repoSize,
	}
	for f, v := range gauges {
		name, labels := splitField(f)
		if d, ok := gaugeDescs[name]; ok {
			c.send(ch, d, prometheus.GaugeValue, v, labels)
		}
	}
	if n, err := c.rdb.SCard(ctx, openSet).Result(); err == nil {
		ch <- prometheus.MustNewConstMetric(c.incidentsOpen, prometheus.GaugeValue, float64(n))
	}
	c.collectQueues(ctx, ch)
}

func (c *Collector) collectCounters(ch chan<- prometheus.Metric, counters map[string]string) {
	type hist struct {
		count   uint64
		sum     float64
		buckets map[float64]uint64
	}
	hists := map[string]*hist{}
	get := func(action string) *hist {
		h := hists[action]
		if h == nil {
			h = &hist{buckets: make(map[float64]uint64, len(DurationBuckets))}
			for _, le := range DurationBuckets {
				h.buckets[le] = 0
			}
			hists[action] = h
		}
		return h
	}
	for f, v := range counters {
		name, labels := splitField(f)
		switch name {
		case "total":
			c.send(ch, c.total, prometheus.CounterValue, v, labels)
		case "read_bytes":
			c.send(ch, c.readBytes, prometheus.CounterValue, v, labels)
		case "added_bytes":
			c.send(ch, c.addedBytes, prometheus.CounterValue, v, labels)
		case "dur_sum":
			if len(labels) == 1 {
				get(labels[0]).sum = parseFloat(v)
			}
		case "dur_count":
			if len(labels) == 1 {
				get(labels[0]).count = uint64(parseFloat(v))
			}
		case "dur_bucket":
			if len(labels) == 2 {
				le, err := strconv.ParseFloat(labels[1], 64)
				if err == nil {
					get(labels[0]).buckets[le] = uint64(parseFloat(v))
				}
			}
		}
	}
	actions := make([]string, 0, len(hists))
	for a := range hists {
		actions = append(actions, a)
	}
	sort.Strings(actions)
	for _, a := range actions {
		h := hists[a]
		m, err := prometheus.NewConstHistogram(c.dur, h.count, h.sum, h.buckets, a)
		if err == nil {
			ch <- m
		}
	}
}

func (c *Collector) collectQueues(ctx context.Context, ch chan<- prometheus.Metric) {
	for _, q := range []string{jobs.QueueCritical, jobs.QueueDefault, jobs.QueueScheduled} {
		var pending, active, archived int
		var latency time.Duration
		info, err := c.insp.GetQueueInfo(q)
		if err == nil {
			pending, active, archived, latency = info.Pending, info.Active, info.Archived, info.Latency
		} else if ctx.Err() != nil {
			return
		} // a queue no job used yet does not exist in Redis: all zero
		ch <- prometheus.MustNewConstMetric(c.queuePending, prometheus.GaugeValue, float64(pending), q)
		ch <- prometheus.MustNewConstMetric(c.queueActive, prometheus.GaugeValue, float64(active), q)
		ch <- prometheus.MustNewConstMetric(c.queueArchived, prometheus.GaugeValue, float64(archived), q)
		ch <- prometheus.MustNewConstMetric(c.queueLatency, prometheus.GaugeValue, latency.Seconds(), q)
	}
}

// send emits one series, skipping fields whose labels do not fit the desc
// (state written by another version).
func (c *Collector) send(ch chan<- prometheus.Metric, d *prometheus.Desc, t prometheus.ValueType, v string, labels []string) {
	m, err := prometheus.NewConstMetric(d, t, parseFloat(v), labels...)
	if err != nil {
		c.log.Debug("metrics: skipping a state field", "labels", labels, "err", err)
		return
	}
	ch <- m
}

func splitField(f string) (string, []string) {
	parts := strings.Split(f, sep)
	return parts[0], parts[1:]
}

func parseFloat(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil && err != redis.Nil {
			return err
		}
	}
	return nil
}
