package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/jobs"
)

// schedulesKey is where jobs keeps its schedules (jobs.ScheduleEntry JSON per name).
const schedulesKey = "backupbot:schedules"

// MissedSchedules opens an incident for every schedule with no good run
// since it was due plus grace (workers stopped, the queue stuck, every run
// failing). It reads the schedules and their last good runs from Redis
// (the latter recorded by Recorder), so it works with every worker down.
// Each returned incident was just opened.
func (s *Incidents) MissedSchedules(ctx context.Context, grace time.Duration) ([]*Incident, error) {
	raw, err := s.rdb.HGetAll(ctx, schedulesKey).Result()
	if err != nil {
		return nil, fmt.Errorf("incidents: read schedules from Redis: %w", err)
	}
	var opened []*Incident
	now := s.now()
	for name, v := range raw {
		var e jobs.ScheduleEntry
		if err := json.Unmarshal([]byte(v), &e); err != nil {
			continue
		}
		sched, err := commands.Cron(e.Cron).Schedule()
		if err != nil {
			continue
		}
		base := e.CreatedAt
		if ts, err := s.rdb.HGet(ctx, gaugesKey, field(scheduleSuccess, name)).Float64(); err == nil {
			if good := time.Unix(0, int64(ts*1e9)); good.After(base) {
				base = good
			}
		} else if !errors.Is(err, redis.Nil) {
			return opened, fmt.Errorf("incidents: read last good run of schedule %s: %w", name, err)
		}
		due := sched.Next(base)
		if !now.After(due.Add(grace)) {
			continue
		}
		inc, err := s.open(ctx, "schedule:"+name, "schedule", name, &Incident{
			Command:   commands.Render(&commands.Create{Type: e.Type, Target: e.Target, Storage: e.Storage, Retention: e.Retention}),
			Schedule:  name,
			LastError: fmt.Sprintf("schedule %s (%s) was due at %s and has had no successful run since (grace %s): are the workers running?", name, e.Cron, due.UTC().Format(time.RFC3339), grace),
		})
		if err != nil {
			return opened, err
		}
		if inc != nil {
			opened = append(opened, inc)
		}
	}
	return opened, nil
}

// ResolveSchedule resolves the missed-schedule incident of a scheduled
// job's schedule when the job succeeded.
func (s *Incidents) ResolveSchedule(ctx context.Context, ev jobs.Event) (*Incident, Change, error) {
	if ev.Kind != jobs.EventSucceeded || ev.Meta.Schedule == "" {
		return nil, None, nil
	}
	inc, err := s.resolve(ctx, "schedule:"+ev.Meta.Schedule, ev.Meta.JobID, ev.Meta.JobID)
	if inc == nil || err != nil {
		return nil, None, err
	}
	return inc, Cleared, nil
}

// StorageDown opens the incident of a storage that stopped answering
// (nil when one is already open).
func (s *Incidents) StorageDown(ctx context.Context, storage string, cause error) (*Incident, error) {
	return s.open(ctx, "storage:"+storage, "storage", storage, &Incident{
		Command:   commands.Render(&commands.Test{Storage: commands.StorageRef{Name: storage}}),
		LastError: cause.Error(),
	})
}

// StorageUp resolves the storage's incident, if one is open (nil when none
// was, or another process resolved it).
func (s *Incidents) StorageUp(ctx context.Context, storage string) (*Incident, error) {
	return s.resolve(ctx, "storage:"+storage, "readiness probe", "")
}
