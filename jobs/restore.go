package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/internal/quote"
	"github.com/backupbot/backupbot/storage/engine"
)

// planInline is how many plan entries a result shows before attaching the
// whole plan as a file.
const planInline = 15

// restore writes a snapshot back, or with --preview returns the plan only.
// The plan is in the result either way (Result.Plan), so the router can
// bind an approval to it. A rerun converges: the engine writes each file
// to a temp name and renames it, so a retried restore ends in the same state.
func (w *Worker) restore(ctx context.Context, j *Job) (*Result, error) {
	c, err := command[*commands.Restore](j)
	if err != nil {
		return nil, err
	}
	ns, err := w.config().ResolveStorage(c.Storage)
	if err != nil {
		return nil, badInput(err)
	}
	r, err := w.openRepo(ctx, ns, j, openOptions{})
	if err != nil {
		return nil, err
	}
	defer r.Close()

	req := engine.RestoreRequest{
		Snapshot: c.Name,
		At:       restorePoint(c.Date, c.Time, time.Local),
		Type:     string(c.Type),
		Filter:   c.Filter,
		To:       c.To,
		Preview:  c.Preview,
		Validate: c.Validate,
	}
	if c.Target != "all" {
		req.Target = c.Target
	}
	if req.Snapshot == "" && req.At.IsZero() {
		req.Snapshot = "latest"
	}
	if !c.Preview {
		lctx, release, err := w.lockTarget(ctx, j, ns.Name, req.Target)
		if err != nil {
			return nil, err
		}
		defer release()
		ctx = lctx
	}
	res, err := r.Restore(ctx, req, engineProgress(j))
	if err != nil && res != nil && errors.Is(err, engine.ErrFilesLost) {
		// Everything intact was written (or, with --validate, nothing);
		// the job fails with the lost files named and attached.
		out := restoreResult(c, ns.Name, res)
		addLost(out, res)
		return out, permanent(lostError(c, ns.Name, res))
	}
	if err != nil {
		return nil, fmt.Errorf("restore %s from storage %s: %w", describeRestore(c), ns.Name, classify(err))
	}
	out := restoreResult(c, ns.Name, res)
	addLost(out, res)
	return out, nil
}

// lostInline is how many lost files a failed restore names in its message.
const lostInline = 5

// lostError says how many files a restore could not write and names the
// first ones.
func lostError(c *commands.Restore, storageName string, r *engine.RestoreResult) error {
	var names []string
	for i, l := range r.Lost {
		if i == lostInline {
			names = append(names, fmt.Sprintf("and %d more (see the attached list)", len(r.Lost)-i))
			break
		}
		names = append(names, quoteName(l.Path))
	}
	done := fmt.Sprintf("the other %s files were restored", humanCount(r.FilesWritten))
	if c.Validate {
		done = "--validate wrote nothing"
	}
	return lostFilesError{fmt.Sprintf("restore %s from storage %s: %d files could not be restored, their data is damaged or missing (%s): %s. Run verify --fix: it repairs what the sources still hold and marks what is lost",
		describeRestore(c), storageName, len(r.Lost), done, strings.Join(names, ", "))}
}

// lostFilesError is a restore's failure for lost files: its text says it
// all, and it is engine.ErrFilesLost.
type lostFilesError struct{ msg string }

func (e lostFilesError) Error() string { return e.msg }
func (e lostFilesError) Unwrap() error { return engine.ErrFilesLost }

// addLost adds the lost files (as a field and an attached list) and the
// damage skipped elsewhere to a restore's result.
func addLost(res *Result, r *engine.RestoreResult) {
	for _, n := range r.Notices {
		res.Fields = append(res.Fields, Field{"Note", n})
	}
	if len(r.Lost) == 0 {
		return
	}
	var b strings.Builder
	for i, l := range r.Lost {
		if i == lostInline {
			fmt.Fprintf(&b, "… and %d more (see the attached list)\n", len(r.Lost)-lostInline)
			break
		}
		fmt.Fprintf(&b, "%s: %s\n", quoteName(l.Path), l.Reason)
	}
	label := fmt.Sprintf("Lost (%s files)", humanCount(int64(len(r.Lost))))
	if len(r.Lost) == 1 {
		label = "Lost (1 file)"
	}
	res.Fields = append(res.Fields, Field{label, strings.TrimRight(b.String(), "\n")})
	rows := make([][]string, len(r.Lost))
	for i, l := range r.Lost {
		rows[i] = []string{quoteName(l.Path), l.Reason}
	}
	// The lost files replace a long plan as the attachment: they are what
	// someone has to act on.
	res.Report = &Report{Name: "restore-lost-" + short(r.Snapshot.ID) + ".txt", Data: []byte(table([]string{"LOST FILE", "WHY"}, rows))}
}

// quoteName quotes a file name holding control characters, so that it
// cannot drive a terminal or a chat client.
func quoteName(s string) string {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError {
			return strconv.Quote(s)
		}
	}
	return s
}

// restorePoint is the moment --date/--time name: the end of the day for a
// date alone, today at that time for a time alone; zero for neither.
func restorePoint(d *commands.Date, t *commands.Clock, loc *time.Location) time.Time {
	if d == nil && t == nil {
		return time.Time{}
	}
	now := time.Now().In(loc)
	y, m, day := now.Date()
	if d != nil {
		y, m, day = d.Year, d.Month, d.Day
	}
	if t == nil {
		return time.Date(y, m, day, 23, 59, 59, 999999999, loc)
	}
	return time.Date(y, m, day, t.Hour, t.Minute, t.Second, 999999999, loc)
}

func describeRestore(c *commands.Restore) string {
	var parts []string
	if c.Name != "" {
		parts = append(parts, "backup "+c.Name)
	}
	if c.Date != nil {
		parts = append(parts, fmt.Sprintf("the backup of %04d-%02d-%02d", c.Date.Year, c.Date.Month, c.Date.Day))
	}
	if len(parts) == 0 {
		parts = append(parts, "the latest backup")
	}
	if c.Target != "" && c.Target != "all" {
		parts = append(parts, "target "+c.Target)
	}
	return strings.Join(parts, ", ")
}

func restoreResult(c *commands.Restore, storageName string, r *engine.RestoreResult) *Result {
	plan := &Plan{Snapshot: r.Snapshot.ID, Entries: make([]PlanEntry, 0, len(r.Plan))}
	counts := map[string]int{}
	sizes := map[string]int64{}
	for _, e := range r.Plan {
		plan.Entries = append(plan.Entries, PlanEntry{Path: e.Path, Action: e.Action, Size: e.Size})
		counts[e.Action]++
		sizes[e.Action] += e.Size
	}
	dest := c.To
	if dest == "" {
		dest = "the original paths"
	}
	s := r.Snapshot
	res := &Result{Plan: plan, Data: rawJSON(r)}
	res.Fields = []Field{
		{"Snapshot", fmt.Sprintf("%s (%s) of %s", s.Name, short(s.ID), s.Time.Local().Format("2006-01-02 15:04"))},
		{"Target", s.Target}, {"Storage", storageName}, {"Destination", dest},
		{"Create", fmt.Sprintf("%s (%s)", humanCount(int64(counts[engine.ActionCreate])), humanBytes(sizes[engine.ActionCreate]))},
		{"Overwrite", fmt.Sprintf("%s (%s)", humanCount(int64(counts[engine.ActionOverwrite])), humanBytes(sizes[engine.ActionOverwrite]))},
		{"Unchanged", humanCount(int64(counts[engine.ActionUnchanged]))},
	}
	if c.Preview {
		res.Summary = fmt.Sprintf("Restore preview of %s to %s: %d to create, %d to overwrite, %d unchanged; nothing was written",
			s.Name, dest, counts[engine.ActionCreate], counts[engine.ActionOverwrite], counts[engine.ActionUnchanged])
	} else {
		res.Summary = fmt.Sprintf("Restored %s files (%s) from %s to %s in %s",
			humanCount(r.FilesWritten), humanBytes(r.BytesWritten), s.Name, dest, humanDuration(r.Duration))
		res.Fields = append(res.Fields, Field{"Duration", humanDuration(r.Duration)})
	}
	var b strings.Builder
	for i, e := range plan.Entries {
		if i == planInline {
			fmt.Fprintf(&b, "… and %d more (see the attached plan)\n", len(plan.Entries)-planInline)
			break
		}
		fmt.Fprintf(&b, "%-9s %8s  %s\n", e.Action, humanBytes(e.Size), quote.Name(e.Path))
	}
	if b.Len() > 0 {
		res.Fields = append(res.Fields, Field{"Plan", strings.TrimRight(b.String(), "\n")})
	}
	if len(plan.Entries) > planInline {
		rows := make([][]string, len(plan.Entries))
		for i, e := range plan.Entries {
			rows[i] = []string{e.Action, humanBytes(e.Size), quote.Name(e.Path)}
		}
		res.Report = &Report{Name: "restore-plan-" + short(s.ID) + ".txt", Data: []byte(table([]string{"ACTION", "SIZE", "PATH"}, rows))}
	}
	return res
}
