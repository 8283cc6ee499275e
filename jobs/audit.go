package jobs

import (
	"context"

	"github.com/backupbot/backupbot/policy/audit"
)

// AuditTo returns a Deps.Audit hook that records job starts and outcomes
// in the audit log: started, succeeded (with the result's summary),
// failed (with why), refused by the policy re-check, and canceled.
// Retries are not audited (the attempt that finally ends is).
func AuditTo(l *audit.Log) func(context.Context, Event) {
	return func(ctx context.Context, ev Event) {
		e := audit.Entry{User: ev.Meta.Requester, Channel: ev.Meta.Channel, Command: ev.Meta.Text, Action: ev.Action, JobID: ev.Meta.JobID, Error: ev.Error}
		switch ev.Kind {
		case EventStarted:
			e.Kind = audit.JobStarted
			if ev.Meta.Schedule != "" {
				e.Detail = "fired by schedule " + ev.Meta.Schedule
			}
		case EventSucceeded:
			e.Kind = audit.JobSucceeded
			if ev.Result != nil {
				e.Detail = ev.Result.Summary
			}
		case EventFailed:
			e.Kind = audit.JobFailed
			if ev.Refused {
				e.Kind = audit.JobRefused
			}
		case EventCanceled:
			e.Kind = audit.JobCanceled
		default:
			return
		}
		_ = l.Record(ctx, e) // the log reports its own write failures
	}
}
