package compliance

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Since renders a duration as a person reads an age: 45m, 26h, 3d 4h.
func Since(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	days := int(d.Hours()) / 24
	if h := int(d.Hours()) % 24; h != 0 {
		return fmt.Sprintf("%dd %dh", days, h)
	}
	return fmt.Sprintf("%dd", days)
}

// String renders a rate as "92% (12/13)", or "—" when nothing ran.
func (r Rate) String() string {
	if r.Runs() == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f%% (%d/%d)", r.Percent(), r.OK, r.Runs())
}

// LastGoodText is the last good backup's time and age, or "never".
func (t Target) LastGoodText() string {
	if t.LastGood.IsZero() {
		return "never"
	}
	return t.LastGood.UTC().Format("2006-01-02 15:04") + " UTC (" + Since(t.Age) + " ago)"
}

// RPOText says the RPO achieved against the allowed age: "26h of 24h".
func (t Target) RPOText() string {
	if t.LastGood.IsZero() {
		return "— of " + Since(t.Allowed)
	}
	return Since(t.WorstGap) + " of " + Since(t.Allowed)
}

// ScheduleText names the target's schedules and their period.
func (t Target) ScheduleText() string {
	if len(t.Schedules) == 0 {
		return "none"
	}
	return strings.Join(t.Schedules, ", ") + " (every " + Since(t.Period) + ")"
}

// Summary is the report's one-line headline.
func (r Report) Summary() string {
	n := len(r.Targets)
	return fmt.Sprintf("Compliance: %d of %d targets covered, %d within their RPO, %d within retention",
		r.Count(func(t Target) bool { return t.Coverage == Covered }), n,
		r.Count(func(t Target) bool { return t.RPOMet }), r.Count(func(t Target) bool { return t.RetentionOK }))
}

// Markdown renders the report as a Markdown summary: the headline, the
// gaps, and a table of every target.
func (r Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s** (as of %s UTC)\n\n", r.Summary(), r.At.UTC().Format("2006-01-02 15:04"))
	var gaps []string
	for _, t := range r.Targets {
		if t.Coverage != Covered {
			gaps = append(gaps, fmt.Sprintf("- `%s`: %s (last good backup %s)", t.Name, t.Coverage, t.LastGoodText()))
		}
		if !t.RetentionOK {
			gaps = append(gaps, fmt.Sprintf("- `%s`: %s (run `/backup cleanup`)", t.Name, t.Retention))
		}
	}
	if len(gaps) > 0 {
		b.WriteString("Needs attention:\n" + strings.Join(gaps, "\n") + "\n\n")
	}
	b.WriteString("| Target | Last good backup | Coverage | Success 7d | Success 30d | RPO achieved | Retention | 3-2-1 |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, t := range r.Targets {
		rpo := t.RPOText()
		if !t.RPOMet {
			rpo += " ⚠️"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", t.Name, t.LastGoodText(), t.Coverage,
			t.Rate7, t.Rate30, rpo, t.Retention, t.ThreeTwoOne)
	}
	return b.String()
}

// CSVHeader is the compliance CSV's first row.
var CSVHeader = []string{"target", "schedules", "period_seconds", "last_good_backup", "last_good_storage", "age_seconds",
	"stale", "coverage", "success_7d", "runs_7d", "success_30d", "runs_30d", "rpo_achieved_seconds", "rpo_allowed_seconds",
	"rpo_met", "snapshots", "retention", "past_retention", "three_two_one"}

// CSV renders one row per target (times RFC 3339 UTC, durations in
// seconds, rates as percentages, empty when unknown).
func (r Report) CSV() []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(CSVHeader)
	secs := func(d time.Duration) string { return strconv.FormatInt(int64(d.Seconds()), 10) }
	pct := func(r Rate) string {
		if r.Runs() == 0 {
			return ""
		}
		return strconv.FormatFloat(r.Percent(), 'f', 1, 64)
	}
	for _, t := range r.Targets {
		last, age, gap := "", "", ""
		if !t.LastGood.IsZero() {
			last, age, gap = t.LastGood.UTC().Format(time.RFC3339), secs(t.Age), secs(t.WorstGap)
		}
		_ = w.Write([]string{t.Name, strings.Join(t.Schedules, " "), secs(t.Period), last, t.Storage, age,
			strconv.FormatBool(t.Stale), t.Coverage, pct(t.Rate7), strconv.Itoa(t.Rate7.Runs()), pct(t.Rate30),
			strconv.Itoa(t.Rate30.Runs()), gap, secs(t.Allowed), strconv.FormatBool(t.RPOMet), strconv.Itoa(t.Snapshots),
			t.Retention, strconv.Itoa(t.PastRetention), t.ThreeTwoOne})
	}
	w.Flush()
	return buf.Bytes()
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}
