package alerts

import (
	"context"
	"testing"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/internal/testredis"
	"github.com/backupbot/backupbot/jobs"
)

// A copy that fails opens an incident for its target and destination, as
// a failed backup does for its target; a good copy there resolves it.
func TestFailedCopyOpensAnIncident(t *testing.T) {
	ctx := context.Background()
	rdb := testredis.Flushed(t, testredis.DBAlerts)
	parser := commands.Parser{Targets: []string{"data"}, Storages: []string{"local", "offsite"}}
	inc := NewIncidents(rdb, func() commands.Parser { return parser })
	text := commands.Render(&commands.Copy{Name: "abcd1234", Target: "data", To: "offsite", Storage: commands.StorageRef{Name: "local"}})
	failed := jobs.Event{Kind: jobs.EventFailed, Action: "copy", Error: "copy to offsite: storage unreachable",
		Meta: jobs.Meta{JobID: "c0ffee01", Requester: jobs.SystemCopies, Text: text}}
	got, change, err := inc.Observe(ctx, failed)
	if err != nil {
		t.Fatal(err)
	}
	if change != Opened || got == nil || got.Kind != "copy" || got.Subject != "data to offsite" || got.LastError != failed.Error {
		t.Fatalf("failed copy: change %v, incident %+v; want an open copy incident for data to offsite", change, got)
	}
	ok := jobs.Event{Kind: jobs.EventSucceeded, Action: "copy", Meta: jobs.Meta{JobID: "c0ffee02", Requester: jobs.SystemCopies, Text: text}}
	got, change, err = inc.Observe(ctx, ok)
	if err != nil {
		t.Fatal(err)
	}
	if change != Cleared || got.State != Resolved {
		t.Errorf("good copy: change %v, state %v; want the incident resolved", change, got.State)
	}
}
