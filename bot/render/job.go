package render

import (
	"fmt"
	"strings"
	"time"

	"github.com/backupbot/backupbot/internal/humanize"
	"github.com/backupbot/backupbot/internal/quote"
	"github.com/backupbot/backupbot/jobs"
)

// Progress renders a job's progress report as one bar line.
func Progress(p jobs.Progress) string {
	return Line{
		Phase: p.Phase, Files: p.Files, FilesTotal: p.FilesTotal,
		Bytes: p.Bytes, BytesTotal: p.BytesTotal, Path: p.Path,
		BytesPerSecond: p.Rate, ETA: p.ETA,
	}.String()
}

// ResultMark is the mark a finished job's result starts with: ⚠️ when
// the job did only part of its work (a backup that skipped files), ✅
// otherwise.
func ResultMark(res *jobs.Result) string {
	if res != nil && res.Partial {
		return "⚠️"
	}
	return "✅"
}

// Who renders a requester for chat: "@alice", or the platform id.
func Who(m jobs.Meta) string {
	if m.Requester.UserID == "" && m.Schedule != "" {
		return "schedule " + m.Schedule
	}
	return m.Requester.Display()
}

// Title is a job's parent line in the channel:
// "🗄 backup create --type full --target data requested by @alice — job 8f3a1c2d".
func Title(m jobs.Meta, action string) string {
	text := m.Text
	if text == "" {
		text = action
	}
	by := "requested by " + Who(m)
	if m.Schedule != "" {
		by = "fired by schedule " + m.Schedule
	}
	return fmt.Sprintf("🗄 `backup %s` %s — job %s", text, by, m.JobID)
}

// Elapsed renders a duration for people: "850ms", "14s", "3m05s", "2h04m".
func Elapsed(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		s := int(d.Round(time.Second).Seconds())
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	m := int(d.Round(time.Minute).Minutes())
	return fmt.Sprintf("%dh%02dm", m/60, m%60)
}

// PlanSummary counts a restore plan's entries by action:
// "3 to create, 1 to overwrite, 12 unchanged · 1.2 MB to write".
func PlanSummary(p *jobs.Plan) string {
	if p == nil {
		return "no plan"
	}
	var create, overwrite, unchanged int
	var bytes int64
	for _, e := range p.Entries {
		switch e.Action {
		case "create":
			create++
			bytes += e.Size
		case "overwrite":
			overwrite++
			bytes += e.Size
		default:
			unchanged++
		}
	}
	return fmt.Sprintf("%d to create, %d to overwrite, %d unchanged · %s to write", create, overwrite, unchanged, humanize.Bytes(bytes))
}

// PlanListing is the plan as text, one path a line, at most limit lines
// (the rest counted): for a chat message or an attached file.
func PlanListing(p *jobs.Plan, limit int) string {
	if p == nil {
		return ""
	}
	var b strings.Builder
	for i, e := range p.Entries {
		if limit > 0 && i == limit {
			fmt.Fprintf(&b, "… and %d more\n", len(p.Entries)-limit)
			break
		}
		fmt.Fprintf(&b, "%-9s %s (%s)\n", e.Action, quote.Name(e.Path), humanize.Bytes(e.Size))
	}
	return b.String()
}
