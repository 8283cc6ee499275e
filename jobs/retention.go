package jobs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/storage/engine"
)

// RetentionSchedule is the name of the built-in schedule that applies the
// configured retention (config retention.schedule) to every storage.
const RetentionSchedule = "retention"

// SystemRetention is who the retention job runs as: the service itself,
// on the operator's behalf (the configuration file is their decision).
// No chat adapter produces the platform "system".
var SystemRetention = policy.Identity{Platform: "system", UserID: "retention", UserName: "retention"}

// retentionKey holds the built-in schedule's state: next, last_run, last_jobs.
const retentionKey = "backupbot:retention"

// isRetentionJob reports whether j is a cleanup the retention schedule
// enqueued: it applies the configured policies, which the policy re-check
// need not authorise (nobody typed it).
func isRetentionJob(j *Job) bool {
	c, ok := j.Command.(*commands.Cleanup)
	return ok && c.OlderThan == 0 && !c.DryRun && j.Meta.Schedule == RetentionSchedule &&
		j.Meta.Requester.Platform == SystemRetention.Platform && j.Meta.Requester.UserID == SystemRetention.UserID
}

// now is the worker's clock (Deps.Now, for tests).
func (w *Worker) now() time.Time {
	if w.deps.Now != nil {
		return w.deps.Now()
	}
	return time.Now()
}

// simulatedNow is Deps.Now when a test set it, else zero (the engine
// then stamps backups with the real time).
func (w *Worker) simulatedNow() time.Time {
	if w.deps.Now != nil {
		return w.deps.Now()
	}
	return time.Time{}
}

// withSchedule tags a scheduled backup with its schedule's name, which
// retention.schedules policies match.
func withSchedule(tags map[string]string, schedule string) map[string]string {
	if schedule == "" || schedule == RetentionSchedule {
		return tags
	}
	if tags == nil {
		tags = map[string]string{}
	}
	if _, set := tags[engine.ScheduleTag]; !set {
		tags[engine.ScheduleTag] = schedule
	}
	return tags
}

// retentionState is the built-in schedule's state in Redis.
type retentionState struct {
	Next     time.Time
	LastRun  time.Time
	LastJobs []string
}

func loadRetentionState(ctx context.Context, rdb redis.UniversalClient) (retentionState, error) {
	var st retentionState
	m, err := rdb.HGetAll(ctx, retentionKey).Result()
	if err != nil {
		return st, fmt.Errorf("read the retention schedule from Redis: %w", err)
	}
	st.Next, _ = time.Parse(time.RFC3339Nano, m["next"])
	st.LastRun, _ = time.Parse(time.RFC3339Nano, m["last_run"])
	if m["last_jobs"] != "" {
		st.LastJobs = strings.Split(m["last_jobs"], ",")
	}
	return st, nil
}

// fireRetention enqueues the retention job on every storage when the
// configured time has come (the first sighting only sets the next time).
func (s *Scheduler) fireRetention(ctx context.Context, now time.Time) error {
	if s.o.Config == nil {
		return nil
	}
	cfg := s.o.Config()
	if cfg == nil || cfg.Retention.Cron() == "" {
		return nil
	}
	sched, err := parseCron(cfg.Retention.Cron())
	if err != nil {
		return err
	}
	st, err := loadRetentionState(ctx, s.rdb)
	if err != nil {
		return err
	}
	if st.Next.IsZero() || st.Next.After(sched.Next(now)) {
		// First start, or the cron changed to an earlier time.
		return s.rdb.HSet(ctx, retentionKey, "next", sched.Next(now).UTC().Format(time.RFC3339Nano)).Err()
	}
	if now.Before(st.Next) {
		return nil
	}
	claim := fmt.Sprintf("backupbot:schedule-fired:%s:%d", RetentionSchedule, st.Next.Unix())
	ok, err := s.rdb.SetNX(ctx, claim, s.token, 48*time.Hour).Result()
	if err != nil || !ok {
		return err
	}
	var jobs []string
	for _, name := range sortedNames(cfg.Storages) {
		cmd := &commands.Cleanup{Storage: commands.StorageRef{Name: name}, Force: true}
		meta, err := s.client.Enqueue(ctx, cmd, Meta{Requester: SystemRetention, Channel: cfg.Retention.Channel,
			Schedule: RetentionSchedule, Text: "cleanup --storage " + name + " (retention)"})
		if err != nil {
			s.o.Logger.Warn("retention job not enqueued", "storage", name, "err", err)
			continue
		}
		jobs = append(jobs, meta.JobID)
		s.o.Logger.Info("retention job enqueued", "storage", name, "job", meta.JobID)
	}
	return s.rdb.HSet(ctx, retentionKey, "next", sched.Next(now).UTC().Format(time.RFC3339Nano),
		"last_run", now.UTC().Format(time.RFC3339Nano), "last_jobs", strings.Join(jobs, ",")).Err()
}

func sortedNames[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// lastResult describes how the jobs of a schedule's last run ended:
// "succeeded", "running", "failed: why" (the worst of them), and whether
// it failed.
func lastResult(ctx context.Context, store statusStore, jobIDs []string) (string, bool) {
	if len(jobIDs) == 0 {
		return "never run", false
	}
	worst, why := StateSucceeded, ""
	rank := map[State]int{StateSucceeded: 0, StateQueued: 1, StateActive: 1, StateRetrying: 2, StateCanceled: 3, StateFailed: 4}
	for _, id := range jobIDs {
		st, err := store.get(ctx, id)
		if errors.Is(err, ErrJobNotFound) {
			continue
		}
		if err != nil {
			return "unknown (" + err.Error() + ")", false
		}
		if rank[st.State] > rank[worst] {
			worst, why = st.State, st.LastError
		}
		if st.State == StateSucceeded && st.Result != nil && strings.Contains(st.Result.Summary, "partial") && worst == StateSucceeded {
			why = "partial"
		}
	}
	switch worst {
	case StateFailed:
		if why == "" {
			why = "see the job's status"
		}
		return "FAILED: " + firstLine(why), true
	case StateCanceled:
		return "canceled", true
	case StateQueued, StateActive, StateRetrying:
		return "running", false
	}
	if why == "partial" {
		return "partial", true
	}
	return "succeeded", false
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
