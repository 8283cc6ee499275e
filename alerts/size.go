package alerts

import (
	"context"
	"fmt"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/internal/humanize"
	"github.com/backupbot/backupbot/jobs"
)

// ObserveSize applies the repository size a finished backup or cleanup
// reports (jobs.Result.Repository): over its storage's size_limit, the
// storage's size incident opens (Opened, once; later jobs over the limit
// change nothing); at or under it, an open one resolves (Cleared). Each
// change is returned to exactly one caller.
func (s *Incidents) ObserveSize(ctx context.Context, ev jobs.Event) (*Incident, Change, error) {
	if ev.Kind != jobs.EventSucceeded || ev.Result == nil || ev.Result.Repository == nil {
		return nil, None, nil
	}
	rs := ev.Result.Repository
	key := "size:" + rs.Storage
	if rs.Limit > 0 && rs.Bytes > rs.Limit {
		inc, err := s.open(ctx, key, "size", rs.Storage, &Incident{
			// What Retry runs, and what the policy checks a click against:
			// a cleanup dry run says what could be freed.
			Command: commands.Render(&commands.Cleanup{Storage: commands.StorageRef{Name: rs.Storage}, DryRun: true}),
			LastError: fmt.Sprintf("repository on %s is %s, over its %s limit: clean up (cleanup --dry-run shows what would go), tighten retention, or raise size_limit",
				rs.Storage, humanize.Bytes(rs.Bytes), rs.LimitText),
			LastJob: ev.Meta.JobID,
		})
		if inc == nil || err != nil {
			return nil, None, err
		}
		return inc, Opened, nil
	}
	inc, err := s.resolve(ctx, key, ev.Meta.JobID, "")
	if inc == nil || err != nil {
		return nil, None, err
	}
	return inc, Cleared, nil
}
