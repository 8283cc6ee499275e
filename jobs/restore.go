package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/internal/humanize"
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
func (w *Worker) restore(ctx context.Context, j *Job, c *commands.Restore) (*Result, error) {
	r, err := w.storageRepo(ctx, j, c.Storage, openOptions{})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	ns := r.storage

	req := engine.RestoreRequest{
		Snapshot: c.Name,
		At:       restorePoint(c.Date, c.Time, time.Local),
		Type:     string(c.Type),
		Filter:   c.Filter,
		To:       c.To,
		Preview:  c.Preview,
		Validate: c.Validate,
		Target:   oneTarget(c.Target),
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
	var res *engine.RestoreResult
	set, err := w.backupSet(ctx, r, c, req)
	if err != nil {
		return nil, fmt.Errorf("restore %s from storage %s: %w", describeRestore(c), ns.Name, classify(err))
	}
	if len(set) > 1 {
		res, err = restoreSet(ctx, r, req, set, j.Progress)
	} else {
		res, err = r.Restore(ctx, req, j.Progress)
	}
	if err != nil && res != nil && errors.Is(err, engine.ErrFilesLost) {
		// Everything intact was written (or, with --validate, nothing);
		// the job fails with the lost files named and attached.
		out := restoreResult(c, ns.Name, res, set)
		addLost(out, res)
		return out, permanent(lostError(c, ns.Name, res))
	}
	if err != nil {
		return nil, fmt.Errorf("restore %s from storage %s: %w", describeRestore(c), ns.Name, classify(err))
	}
	out := restoreResult(c, ns.Name, res, set)
	addLost(out, res)
	return out, nil
}

// backupSet is what restore --target all restores when that is more than
// one snapshot: with --date or --time (and no --name) the newest backup of
// each target at or before that moment; else every snapshot of the chosen
// backup's set (a create --target all or snapshot --resource all run,
// which share a set tag), or with --name every target's newest backup of
// that name. Nil (one snapshot, chosen by the engine) for a single
// target, an ID, or a backup that is not part of a set.
func (w *Worker) backupSet(ctx context.Context, r *repo, c *commands.Restore, req engine.RestoreRequest) ([]engine.SnapshotInfo, error) {
	if req.Target != "" {
		return nil, nil
	}
	all, err := r.Snapshots(ctx, engine.SnapshotFilter{Type: req.Type})
	if err != nil || len(all) == 0 {
		return nil, err
	}
	newestPerTarget := func(keep func(engine.SnapshotInfo) bool) []engine.SnapshotInfo {
		seen := map[string]bool{}
		var out []engine.SnapshotInfo
		for _, s := range all { // newest first
			if !seen[s.Target] && keep(s) {
				seen[s.Target] = true
				out = append(out, s)
			}
		}
		slices.SortFunc(out, func(a, b engine.SnapshotInfo) int { return strings.Compare(a.Target, b.Target) })
		return out
	}
	if req.Snapshot == "" && !req.At.IsZero() {
		return newestPerTarget(func(s engine.SnapshotInfo) bool { return !s.Time.After(req.At) }), nil
	}
	chosen := all[0]
	if req.Snapshot != "latest" {
		i := slices.IndexFunc(all, func(s engine.SnapshotInfo) bool { return s.Name == req.Snapshot })
		if i < 0 {
			return nil, nil // an ID or a name the engine will refuse
		}
		chosen = all[i]
	}
	if set := chosen.Tags[SetTag]; set != "" {
		return newestPerTarget(func(s engine.SnapshotInfo) bool { return s.Tags[SetTag] == set }), nil
	}
	if req.Snapshot != "latest" {
		return newestPerTarget(func(s engine.SnapshotInfo) bool { return s.Name == req.Snapshot }), nil
	}
	return nil, nil
}

// restoreSet restores each snapshot of a backup set with req's options,
// one after the other, and adds their results up. Files lost in one do
// not stop the others.
func restoreSet(ctx context.Context, r *repo, req engine.RestoreRequest, set []engine.SnapshotInfo, progress engine.ProgressFunc) (*engine.RestoreResult, error) {
	sum := &engine.RestoreResult{Snapshot: set[0]}
	var lost error
	for _, s := range set {
		one := req
		one.Snapshot, one.At, one.Target = s.ID, time.Time{}, s.Target
		res, err := r.Restore(ctx, one, progress)
		if err != nil && (res == nil || !errors.Is(err, engine.ErrFilesLost)) {
			return nil, fmt.Errorf("target %s (snapshot %s): %w", s.Target, short(s.ID), err)
		}
		if err != nil {
			lost = err
		}
		sum.Plan = append(sum.Plan, res.Plan...)
		sum.FilesWritten += res.FilesWritten
		sum.BytesWritten += res.BytesWritten
		sum.Duration += res.Duration
		sum.Warnings = append(sum.Warnings, res.Warnings...)
		sum.Lost = append(sum.Lost, res.Lost...)
		sum.Notices = append(sum.Notices, res.Notices...)
	}
	return sum, lost
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

func restoreResult(c *commands.Restore, storageName string, r *engine.RestoreResult, set []engine.SnapshotInfo) *Result {
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
	name, snapshot, target := s.Name, fmt.Sprintf("%s (%s) of %s", s.Name, short(s.ID), s.Time.Local().Format("2006-01-02 15:04")), s.Target
	if len(set) > 1 {
		// One backup set: every target's snapshot.
		ids := make([]string, len(set))
		var names, targets []string
		for i, x := range set {
			ids[i] = x.ID
			names = append(names, fmt.Sprintf("%s (%s) of %s", x.Name, short(x.ID), x.Time.Local().Format("2006-01-02 15:04")))
			targets = append(targets, x.Target)
		}
		plan.Snapshot = strings.Join(ids, ",")
		name = fmt.Sprintf("%s (%s)", plural(len(set), "backup"), strings.Join(targets, ", "))
		snapshot, target = strings.Join(names, "\n"), strings.Join(targets, ", ")
	}
	res := &Result{Plan: plan, Data: rawJSON(struct {
		*engine.RestoreResult
		Snapshots []engine.SnapshotInfo `json:"snapshots,omitempty"`
	}{r, set})}
	res.Fields = []Field{
		{"Snapshot", snapshot},
		{"Target", target}, {"Storage", storageName}, {"Destination", dest},
		{"Create", fmt.Sprintf("%s (%s)", humanCount(int64(counts[engine.ActionCreate])), humanize.Bytes(sizes[engine.ActionCreate]))},
		{"Overwrite", fmt.Sprintf("%s (%s)", humanCount(int64(counts[engine.ActionOverwrite])), humanize.Bytes(sizes[engine.ActionOverwrite]))},
		{"Unchanged", humanCount(int64(counts[engine.ActionUnchanged]))},
	}
	if c.Preview {
		res.Summary = fmt.Sprintf("Restore preview of %s to %s: %d to create, %d to overwrite, %d unchanged; nothing was written",
			name, dest, counts[engine.ActionCreate], counts[engine.ActionOverwrite], counts[engine.ActionUnchanged])
	} else {
		res.Summary = fmt.Sprintf("Restored %s (%s) from %s to %s in %s",
			plural(r.FilesWritten, "file"), humanize.Bytes(r.BytesWritten), name, dest, humanDuration(r.Duration))
		res.Fields = append(res.Fields, Field{"Duration", humanDuration(r.Duration)})
	}
	var b strings.Builder
	for i, e := range plan.Entries {
		if i == planInline {
			fmt.Fprintf(&b, "… and %d more (see the attached plan)\n", len(plan.Entries)-planInline)
			break
		}
		fmt.Fprintf(&b, "%-9s %8s  %s\n", e.Action, humanize.Bytes(e.Size), quote.Name(e.Path))
	}
	if b.Len() > 0 {
		res.Fields = append(res.Fields, Field{"Plan", strings.TrimRight(b.String(), "\n")})
	}
	if len(plan.Entries) > planInline {
		rows := make([][]string, len(plan.Entries))
		for i, e := range plan.Entries {
			rows[i] = []string{e.Action, humanize.Bytes(e.Size), quote.Name(e.Path)}
		}
		res.Report = &Report{Name: "restore-plan-" + short(s.ID) + ".txt", Data: []byte(table([]string{"ACTION", "SIZE", "PATH"}, rows))}
	}
	return res
}

func init() {
	register(commands.ActionRestore, actionSpec{Timeout: 12 * time.Hour, MaxRetry: 2, Queue: QueueCritical,
		Why: "converges: files are written to a temp name and renamed, so a rerun ends in the same state"}, (*Worker).restore)
}
