package render

import (
	"strings"
	"testing"

	"github.com/backupbot/backupbot/jobs"
)

// A file name with an escape sequence reaches chat quoted, never raw.
func TestPlanListingQuotesNames(t *testing.T) {
	p := &jobs.Plan{Entries: []jobs.PlanEntry{
		{Path: "/srv/data/ok.txt", Action: "create", Size: 1},
		{Path: "/srv/data/evil\x1b[2J\x1b[31mname\r\n[reply] forged", Action: "create", Size: 2},
	}}
	out := PlanListing(p, 10)
	if strings.ContainsAny(out, "\x1b\r") || strings.Count(out, "\n") != 2 {
		t.Fatalf("control characters passed through:\n%q", out)
	}
	if !strings.Contains(out, `"/srv/data/evil\x1b[2J\x1b[31mname\r\n[reply] forged"`) || !strings.Contains(out, "create    /srv/data/ok.txt (") {
		t.Fatalf("names not shown as expected:\n%s", out)
	}
}

func TestResultMark(t *testing.T) {
	if ResultMark(&jobs.Result{}) != "✅" || ResultMark(nil) != "✅" || ResultMark(&jobs.Result{Partial: true}) != "⚠️" {
		t.Fatal("partial results must be marked ⚠️, complete ones ✅")
	}
}
