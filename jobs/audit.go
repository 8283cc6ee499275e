package jobs

import (
	"context"

	"github.com/backupbot/backupbot/policy/audit"
)

// AuditTo returns a Deps.Audit hook that records job starts and outcomes
// in the audit log: started, succeeded (with the result's summary),
// failed (with why), refused by the policy re-check, and canceled.
// A retry is one job_retried entry (with why); the attempts after the
// first add no job_started entries, so a job has one start and one outcome.
func AuditTo(l *audit.Log) func(context.Context, Event) {
	return func(ctx context.Context, ev Event) {
		e := audit.Entry{User: ev.Meta.Requester, Channel: ev.Meta.Channel, Command: ev.Meta.Text, Action: ev.Action, JobID: ev.Meta.JobID, Error: ev.Error}
		switch ev.Kind {
		case EventStarted:
			if ev.Attempt > 1 {
				return // the retrying event before it was recorded as job_retried
			}
			e.Kind = audit.JobStarted
			if ev.Meta.Schedule != "" {
				e.Detail = "fired by schedule " + ev.Meta.Schedule
			}
		case EventRetrying:
			e.Kind = audit.JobRetried
			e.Detail = "the job runs again (Error says why)"
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
