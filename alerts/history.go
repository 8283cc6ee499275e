package alerts

import (
	"context"
	"encoding/json"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/compliance"
	"github.com/backupbot/backupbot/jobs"
)

// maxHistoryError bounds the error text a history entry keeps.
const maxHistoryError = 300

// snapshotData is the part of a snapshot (engine.SnapshotInfo) the
// history keeps.
type snapshotData struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Type      string            `json:"type"`
	Target    string            `json:"target"`
	Tags      map[string]string `json:"tags"`
	Time      time.Time         `json:"time"`
	ExpiresAt time.Time         `json:"expires_at"`
	Partial   bool              `json:"partial"`
}

func (s snapshotData) snap(storage string) compliance.Snap {
	return compliance.Snap{Storage: storage, ID: s.ID, Name: s.Name, Target: s.Target, Type: s.Type,
		Schedule: s.Tags["schedule"], Time: s.Time, ExpiresAt: s.ExpiresAt, Partial: s.Partial}
}

// history adds a finished job to the bounded job history the dashboard
// and the compliance report read: what it was, how it ended, the
// snapshots it made or removed, and the storage's new size.
func (r *Recorder) history(ctx context.Context, ev jobs.Event, cmd commands.Command, start time.Time, result string) error {
	if ev.Refused {
		return nil // the policy said no: nothing ran
	}
	errText := ev.Error
	if len(errText) > maxHistoryError {
		errText = errText[:maxHistoryError] + "…"
	}
	c := compliance.Change{Job: compliance.Job{ID: ev.Meta.JobID, Action: ev.Action, Result: result, Text: ev.Meta.Text,
		Schedule: ev.Meta.Schedule, Start: start, End: ev.At, Error: errText}}
	var data json.RawMessage
	if ev.Result != nil {
		data = ev.Result.Data
	}
	switch x := cmd.(type) {
	case *commands.Create:
		c.Job.Storage = r.storageName(x.Storage)
		var rs []struct {
			backupData
			Snapshot snapshotData `json:"snapshot"`
		}
		if ev.Kind == jobs.EventSucceeded && json.Unmarshal(data, &rs) == nil {
			for _, b := range rs {
				c.Job.Targets = append(c.Job.Targets, b.Snapshot.Target)
				c.Job.BytesRead += b.BytesRead
				c.Job.BytesAdded += b.BytesAdded
				c.Added = append(c.Added, b.Snapshot.snap(c.Job.Storage))
			}
			c.Storage, c.Delta = c.Job.Storage, c.Job.BytesAdded
		} else {
			c.Job.Targets = r.targets(x.Target)
		}
	case *commands.Verify:
		c.Job.Storage = r.storageName(x.Storage)
		var v verifyData
		if json.Unmarshal(data, &v) == nil {
			c.Job.Problems = len(v.Problems)
		}
		c.Job.RestoreTest = restoreTest(cmd)
	case *commands.Cleanup:
		c.Job.Storage = r.storageName(x.Storage)
		var cr struct {
			Removed    []snapshotData `json:"removed"`
			BytesFreed int64          `json:"bytes_freed"`
			DryRun     bool           `json:"dry_run"`
		}
		if ev.Kind == jobs.EventSucceeded && json.Unmarshal(data, &cr) == nil && !cr.DryRun {
			for _, s := range cr.Removed {
				c.Removed = append(c.Removed, s.snap(c.Job.Storage))
			}
			c.Storage, c.Delta = c.Job.Storage, -cr.BytesFreed
		}
	case *commands.Test:
		c.Job.Storage = r.storageName(x.Storage)
	}
	if ev.Result != nil && ev.Result.Repository != nil && c.Storage != "" && ev.Result.Repository.Storage == c.Storage {
		rs := ev.Result.Repository
		size := rs.Bytes
		c.Size = &size
	}
	return compliance.NewHistory(r.rdb).Add(ctx, c)
}

// targets expands a command's --target ("all" and the default) into the
// configured target names.
func (r *Recorder) targets(name string) []string {
	if cfg := r.cfg(); cfg != nil {
		if ts, err := cfg.ResolveTargets(name); err == nil {
			out := make([]string, 0, len(ts))
			for _, t := range ts {
				out = append(out, t.Name)
			}
			return out
		}
	}
	return []string{name}
}

// restoreTest says whether a verify restored data as a recovery test: any
// flag named like restore-test that is set. Read from the command table,
// so the flag needs no change here when it is added.
func restoreTest(cmd commands.Command) bool {
	facts, err := commands.Schema{}.FlagFacts(cmd)
	if err != nil {
		return false
	}
	for _, f := range facts {
		if (f.Flag == "restore-test" || f.Flag == "recovery-test") && f.Value != "" && f.Value != "false" {
			return true
		}
	}
	return false
}
