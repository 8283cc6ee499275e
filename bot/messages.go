package bot

import (
	"fmt"
	"strings"
	"time"

	"github.com/backupbot/backupbot/bot/render"
	"github.com/backupbot/backupbot/internal/quote"
	"github.com/backupbot/backupbot/jobs"
)

// Button action ids. A click's Value is the job id (retry), the preview
// job id (confirm, cancel) or the approval id (approve, deny).
const (
	ActionConfirm = "confirm"
	ActionCancel  = "cancel"
	ActionApprove = "approve"
	ActionDeny    = "deny"
	ActionRetry   = "retry"
)

func fields(fs []jobs.Field) []Field {
	out := make([]Field, 0, len(fs))
	for _, f := range fs {
		out = append(out, Field{Label: f.Label, Value: f.Value})
	}
	return out
}

// statusMessage answers `/backup status JOB`.
func statusMessage(st jobs.Status) Message {
	m := Message{Text: fmt.Sprintf("Job `%s` · `%s` · %s", st.Meta.JobID, st.Meta.Text, st.State)}
	add := func(label, value string) {
		if value != "" {
			m.Fields = append(m.Fields, Field{Label: label, Value: value})
		}
	}
	add("Requested by", render.Who(st.Meta))
	add("Enqueued", st.Meta.EnqueuedAt.Local().Format("2006-01-02 15:04:05"))
	if !st.StartedAt.IsZero() {
		add("Started", st.StartedAt.Local().Format("2006-01-02 15:04:05"))
	}
	if !st.FinishedAt.IsZero() {
		add("Finished", st.FinishedAt.Local().Format("2006-01-02 15:04:05"))
	}
	if st.Attempt > 1 {
		add("Attempt", fmt.Sprint(st.Attempt))
	}
	if st.Progress != nil && !st.State.Final() {
		add("Phase", st.Progress.Phase)
		add("Progress", render.Progress(*st.Progress))
		add("Current path", st.Progress.Path)
	}
	if st.CancelRequested && !st.State.Final() {
		add("Cancel", "requested; stopping at the next safe point")
	}
	if st.Result != nil {
		add("Result", st.Result.Summary)
	}
	add("Error", st.LastError)
	return m
}

// runningMessage answers `/backup list --running`.
func runningMessage(running []jobs.Status) Message {
	return Message{Text: listText(running, "No jobs are queued or running.", "%d job(s) queued or running:", "", func(st jobs.Status) string {
		line := fmt.Sprintf("• `%s` `%s` · %s · by %s", st.Meta.JobID, st.Meta.Text, st.State, render.Who(st.Meta))
		if st.Progress != nil && st.State == jobs.StateActive {
			line += " · " + render.Progress(*st.Progress)
		}
		return line
	})}
}

// listText answers a listing: none when there are no items, else header
// (a format taking the count), a line per item, and footer.
func listText[T any](items []T, none, header, footer string, line func(T) string) string {
	if len(items) == 0 {
		return none
	}
	var b strings.Builder
	fmt.Fprintf(&b, header, len(items))
	for _, it := range items {
		b.WriteString("\n" + line(it))
	}
	b.WriteString(footer)
	return b.String()
}

// progressText is the progress message's text for the job's latest state.
func progressText(ev jobs.Event, last *jobs.Progress) string {
	switch ev.Kind {
	case jobs.EventQueued:
		return "⏳ Queued, waiting for a worker…"
	case jobs.EventStarted:
		if ev.Progress != nil {
			return "⚙️ " + phaseLine(*ev.Progress)
		}
		if ev.Attempt > 1 {
			return fmt.Sprintf("⚙️ Started again (attempt %d)…", ev.Attempt)
		}
		return "⚙️ Started…"
	case jobs.EventProgress:
		if ev.Progress != nil {
			return "⚙️ " + phaseLine(*ev.Progress)
		}
	case jobs.EventRetrying:
		return "↻ Interrupted; the job will run again…"
	case jobs.EventSucceeded:
		if ev.Result != nil && ev.Result.Partial {
			return "⚠️ Done, partly"
		}
		if last != nil {
			done := *last
			if done.BytesTotal > 0 {
				done.Bytes = done.BytesTotal
			}
			if done.FilesTotal > 0 {
				done.Files = done.FilesTotal
			}
			done.ETA = 0
			return render.ResultMark(ev.Result) + " Done · " + render.Progress(done)
		}
		return render.ResultMark(ev.Result) + " Done"
	case jobs.EventFailed:
		return "❌ Failed"
	case jobs.EventCanceled:
		return "⏹ Canceled"
	}
	return "⚙️ Working…"
}

func phaseLine(p jobs.Progress) string {
	line := render.Progress(p)
	if p.Phase != "" && !strings.HasPrefix(line, p.Phase) {
		line = p.Phase + " · " + line
	}
	return line
}

// resultMessage is the summary posted when a job succeeds.
func resultMessage(ev jobs.Event) Message {
	res := ev.Result
	if res == nil {
		return Message{Text: fmt.Sprintf("✅ Job `%s` done.", ev.Meta.JobID)}
	}
	text := render.ResultMark(res) + " " + res.Summary
	m := Message{Text: text, Fields: fields(render.ResultFields(res))}
	if d := ev.At.Sub(ev.Meta.EnqueuedAt); !ev.Meta.EnqueuedAt.IsZero() && d > 0 {
		m.Fields = append(m.Fields, Field{Label: "Took", Value: render.Elapsed(d) + " from request"})
	}
	return m
}

// failureMessage explains a failed job and offers a retry.
func failureMessage(ev jobs.Event) Message {
	why := quote.Lines(ev.Error)
	if why == "" {
		why = "the worker reported no reason"
	}
	if ev.Result != nil {
		return findingsMessage(ev, why)
	}
	text := fmt.Sprintf("❌ Job `%s` failed: %s", ev.Meta.JobID, why)
	if ev.Attempt > 1 {
		text += fmt.Sprintf("\n(after %d attempts)", ev.Attempt)
	}
	if ev.StoragePermanent || ev.Permanent {
		// Pressing Retry would fail the same way until the cause is fixed.
		return Message{Text: text + "\nFix the cause, then run the command again."}
	}
	text += "\nFix the cause and press Retry, or run the command again."
	m := Message{
		Text:    text,
		Buttons: []Button{{ActionID: ActionRetry, Label: "Retry", Value: ev.Meta.JobID}},
	}
	if ev.Result != nil {
		m.Fields = fields(ev.Result.Fields)
	}
	return m
}

// findingsMessage is a failed job whose work ran to the end and found the
// failure (a verify that found damage): what it found, with no Retry
// button, since running it again finds the same.
func findingsMessage(ev jobs.Event, why string) Message {
	text := fmt.Sprintf("❌ Job `%s` failed: %s", ev.Meta.JobID, why)
	if s := ev.Result.Summary; s != "" && s != ev.Error {
		text += "\n" + s // what the work did get done (a restore's files written)
	}
	return Message{Text: text, Fields: fields(ev.Result.Fields)}
}

func canceledMessage(ev jobs.Event) Message {
	why := ev.Error
	if why == "" {
		why = "canceled"
	}
	return Message{Text: fmt.Sprintf("⏹ Job `%s` stopped: %s. The repository was left clean.", ev.Meta.JobID, why)}
}

func retryingMessage(ev jobs.Event) Message {
	why := ev.Error
	if why == "" {
		why = "its worker stopped"
	}
	return Message{Text: fmt.Sprintf("↻ Job `%s` is being retried: %s.", ev.Meta.JobID, strings.TrimSuffix(why, "."))}
}

// expiresIn renders how long an approval or confirmation stays valid.
func expiresIn(t time.Time) string {
	d := time.Until(t).Round(time.Minute)
	if d <= 0 {
		return "now"
	}
	return "in " + render.Elapsed(d)
}
