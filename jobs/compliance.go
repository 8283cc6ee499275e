package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/compliance"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/storage/engine"
)

// ComplianceInput gathers what compliance.Compute reads from Redis: the
// schedules, the job history and the snapshot inventory the history
// keeps. The dashboard and the compliance report both start from it.
func ComplianceInput(ctx context.Context, rdb redis.UniversalClient, cfg *config.File, now time.Time) (compliance.Input, error) {
	in := compliance.Input{Now: now, Config: cfg, Grace: cfg.Alerts.WithDefaults().ScheduleGrace}
	entries, err := scheduleStore{rdb}.all(ctx)
	if err != nil {
		return in, err
	}
	in.SchedulesKnown = true
	for _, e := range entries {
		s := compliance.Schedule{Name: e.Name, Cron: e.Cron, Kind: string(e.Kind), Storage: e.Storage.Name}
		if ts, err := cfg.ResolveTargets(e.Target); err == nil {
			for _, t := range ts {
				s.Targets = append(s.Targets, t.Name)
			}
		}
		in.Schedules = append(in.Schedules, s)
	}
	h := compliance.NewHistory(rdb)
	var errJobs, errSnaps error
	in.Jobs, errJobs = h.Jobs(ctx)
	in.Snapshots, errSnaps = h.Snapshots(ctx)
	return in, errors.Join(errJobs, errSnaps)
}

// complianceReport is `analyze --report compliance`: the figures of every
// target, as the dashboard shows them, posted as a Markdown summary with
// the CSV attached. The snapshots of the analyzed storage come from its
// repository; the history (success rates, schedules) from Redis, when the
// job runs in the service.
func (w *Worker) complianceReport(ctx context.Context, j *Job, r *repo) (*Result, error) {
	cfg := w.config()
	in := compliance.Input{Now: w.now(), Config: cfg, Grace: cfg.Alerts.WithDefaults().ScheduleGrace, ThreeTwoOne: w.deps.ThreeTwoOne}
	if w.rdb != nil {
		var err error
		if in, err = ComplianceInput(ctx, w.rdb, cfg, w.now()); err != nil {
			return nil, fmt.Errorf("read the job history for the compliance report: %w", err)
		}
		in.ThreeTwoOne = w.deps.ThreeTwoOne
	}
	snaps, err := r.Snapshots(ctx, engine.SnapshotFilter{})
	if err != nil {
		return nil, fmt.Errorf("list backups in storage %s: %w", r.storage.Name, classify(err))
	}
	// The repository is the truth about its own snapshots.
	kept := in.Snapshots[:0]
	for _, s := range in.Snapshots {
		if s.Storage != r.storage.Name {
			kept = append(kept, s)
		}
	}
	in.Snapshots = kept
	for _, s := range snaps {
		in.Snapshots = append(in.Snapshots, compliance.Snap{Storage: r.storage.Name, ID: s.ID, Name: s.Name, Target: s.Target,
			Type: s.Type, Schedule: s.Tags["schedule"], Time: s.Time, ExpiresAt: s.ExpiresAt, Partial: s.Partial})
	}
	rep := compliance.Compute(in)
	res := &Result{Summary: rep.Summary(), Data: rawJSON(rep),
		Report: &Report{Name: "compliance-" + rep.At.UTC().Format("20060102-1504") + ".csv", Data: rep.CSV()}}
	res.Fields = []Field{{"Report", rep.Markdown()}}
	if w.rdb == nil {
		res.Fields = append(res.Fields, Field{"Note", "run in the service for success rates and schedules: " +
			"without Redis the figures come from the snapshots in " + r.storage.Name + " alone"})
	}
	return res, nil
}
