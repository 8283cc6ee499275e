package render

import (
	"strings"

	"github.com/backupbot/backupbot/jobs"
)

// PlanLines is how many plan lines a result shows inline; the whole plan
// is attached as a file when it is longer.
const PlanLines = 15

// ResultFields are the fields a job's result shows, in every adapter and
// in backupctl: the handler's own, then the restore plan summarised when
// the handler gave a plan but no Plan field.
func ResultFields(res *jobs.Result) []jobs.Field {
	if res == nil {
		return nil
	}
	fields := res.Fields
	if res.Plan != nil && !hasField(res.Fields, "Plan") {
		fields = append(fields[:len(fields):len(fields)], jobs.Field{Label: "Plan", Value: PlanSummary(res.Plan) + "\n" + PlanListing(res.Plan, PlanLines)})
	}
	return fields
}

func hasField(fs []jobs.Field, label string) bool {
	for _, f := range fs {
		if f.Label == label {
			return true
		}
	}
	return false
}

// Text lays a result out for a terminal (backupctl): the summary, then
// the fields as aligned "label: value" lines; a value of several lines
// continues under its first.
func Text(res *jobs.Result) string {
	if res == nil {
		return ""
	}
	var b strings.Builder
	if res.Summary != "" {
		b.WriteString(res.Summary + "\n")
	}
	fields := ResultFields(res)
	width := 0
	for _, f := range fields {
		width = max(width, len(f.Label))
	}
	indent := strings.Repeat(" ", width+5)
	for _, f := range fields {
		value := strings.ReplaceAll(strings.TrimRight(f.Value, "\n"), "\n", "\n"+indent)
		b.WriteString("  " + f.Label + ":" + strings.Repeat(" ", width-len(f.Label)+2) + value + "\n")
	}
	return b.String()
}
