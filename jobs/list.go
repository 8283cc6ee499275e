package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/internal/humanize"
	"github.com/backupbot/backupbot/storage/engine"
)

// listInline is how many backups a list result shows before attaching the
// full listing as a file.
const listInline = 10

// listedSnapshot is one row of a listing.
type listedSnapshot struct {
	Storage string `json:"storage"`
	engine.SnapshotInfo
	// Verified is set with --verify: "ok" or what is wrong.
	Verified string `json:"verified,omitempty"`
	// Copies are the storages that hold the backup (itself or a copy of
	// it), the original's first; set when copies are configured or exist.
	Copies []string `json:"copies,omitempty"`
}

// list shows backups across the storages --storage names (all, remote,
// local, a name or a kind), filtered by --age, --type, --target, --name;
// --size adds sizes and --verify runs a quick verify of each backup.
// With --running it lists the jobs in flight instead.
func (w *Worker) list(ctx context.Context, j *Job, c *commands.List) (*Result, error) {
	if c.Running {
		return w.listRunning(ctx)
	}
	storages, err := w.config().ResolveStorages(c.Storage)
	if err != nil {
		return nil, badInput(err)
	}
	f := engine.SnapshotFilter{Name: c.Name, Type: string(c.Type), Target: oneTarget(c.Target)}
	if c.Age > 0 {
		f.NewerThan = time.Now().Add(-time.Duration(c.Age) * 24 * time.Hour)
	}
	var rows []listedSnapshot
	var notes, failed []string
	flagged := 0
	for _, ns := range storages {
		got, note, err := w.listOne(ctx, j, ns, f, c.Verify)
		if err != nil {
			if len(storages) == 1 {
				return nil, err
			}
			notes = append(notes, fmt.Sprintf("%s: %v", ns.Name, err))
			failed = append(failed, ns.Name)
			continue
		}
		if note != "" {
			notes = append(notes, note)
		}
		for _, r := range got {
			if r.Verified != "" && r.Verified != "ok" {
				flagged++
			}
		}
		rows = append(rows, got...)
	}
	if len(failed) == len(storages) {
		return nil, fmt.Errorf("no storage could be read: %s", strings.Join(notes, "; "))
	}
	var fields []Field
	if w.copiesMatter(rows) {
		w.annotateCopies(ctx, j, rows, storages, f)
	}
	if c.Target != "" && c.Target != "all" {
		names := make([]string, len(storages))
		for i, ns := range storages {
			names[i] = ns.Name
		}
		fields = append(fields, ruleField(w.ruleStatus(ctx, j, c.Target, names)))
	}
	res := listResult(c, storages, rows, notes)
	res.Fields = append(res.Fields, fields...)
	if len(failed) > 0 {
		res.Partial = true
		res.Summary += fmt.Sprintf("; PARTIAL: %s could not be read", strings.Join(failed, ", "))
	}
	if flagged > 0 {
		// The listing stays in the thread; the job fails so nobody
		// mistakes an unrestorable backup for a good one.
		return res, permanent(fmt.Errorf("%d of the backups listed need data that is missing or damaged (marked DAMAGED); verify --deep names the files, verify --fix repairs what the sources still hold", flagged))
	}
	return res, nil
}

func (w *Worker) listOne(ctx context.Context, j *Job, ns config.NamedStorage, f engine.SnapshotFilter, verify bool) ([]listedSnapshot, string, error) {
	r, err := w.openRepo(ctx, ns, j, openOptions{})
	if errors.Is(err, engine.ErrNoRepository) {
		return nil, fmt.Sprintf("%s: no backups yet", ns.Name), nil
	}
	if err != nil {
		return nil, "", err
	}
	defer r.Close()
	listing, err := r.List(ctx, engine.ListRequest{Filter: f, Verify: verify})
	if err != nil {
		return nil, "", fmt.Errorf("list backups in storage %s: %w", ns.Name, classify(err))
	}
	rows := make([]listedSnapshot, len(listing.Snapshots))
	for i, s := range listing.Snapshots {
		rows[i] = listedSnapshot{Storage: ns.Name, SnapshotInfo: s}
		if verify {
			if why, bad := listing.Problems[s.ID]; bad {
				rows[i].Verified = "DAMAGED: " + why
			} else {
				rows[i].Verified = "ok"
			}
		}
	}
	var notes []string
	for _, n := range listing.Notices {
		notes = append(notes, ns.Name+": "+n)
	}
	for _, s := range listing.Snapshots {
		if len(s.Lost) > 0 {
			notes = append(notes, fmt.Sprintf("%s: %s (%s) is marked damaged: %s lost for good (a restore names them), the rest restores", ns.Name, s.Name, short(s.ID), plural(len(s.Lost), "file")))
		}
	}
	return rows, strings.Join(notes, "\n"), nil
}

func listResult(c *commands.List, storages []config.NamedStorage, rows []listedSnapshot, notes []string) *Result {
	names := make([]string, len(storages))
	for i, s := range storages {
		names[i] = s.Name
	}
	res := &Result{Data: rawJSON(rows)}
	var total int64
	bad := 0
	for _, r := range rows {
		total += r.Size
		if r.Verified != "" && r.Verified != "ok" {
			bad++
		}
	}
	res.Summary = plural(len(rows), "backup") + " in " + strings.Join(names, ", ")
	if c.Size {
		res.Summary += fmt.Sprintf(", %s in all", humanize.Bytes(total))
	}
	if c.Verify {
		if bad == 0 {
			res.Summary += "; all verified ok"
		} else {
			res.Summary += fmt.Sprintf("; %d FAILED verification", bad)
		}
	}
	header := []string{"NAME", "ID", "TYPE", "TARGET", "TIME"}
	if len(storages) > 1 {
		header = append([]string{"STORAGE"}, header...)
	}
	if c.Size {
		header = append(header, "SIZE", "ADDED")
	}
	if c.Verify {
		header = append(header, "VERIFIED")
	}
	withCopies := slices.ContainsFunc(rows, func(r listedSnapshot) bool { return len(r.Copies) > 0 })
	if withCopies {
		header = append(header, "COPIES")
	}
	lines := make([][]string, len(rows))
	for i, r := range rows {
		var l []string
		if len(storages) > 1 {
			l = append(l, r.Storage)
		}
		l = append(l, r.Name, short(r.ID), snapshotType(r.SnapshotInfo), r.Target, r.Time.Local().Format("2006-01-02 15:04"))
		if c.Size {
			l = append(l, humanize.Bytes(r.Size), humanize.Bytes(r.Added))
		}
		if c.Verify {
			l = append(l, r.Verified)
		}
		if withCopies {
			l = append(l, strings.Join(r.Copies, ", "))
		}
		lines[i] = l
	}
	if len(rows) > 0 {
		shown := lines[:min(len(lines), listInline)]
		text := table(header, shown)
		if len(lines) > listInline {
			text += fmt.Sprintf("… and %d more (see the attached listing)", len(lines)-listInline)
			res.Report = &Report{Name: "backups.txt", Data: []byte(table(header, lines))}
		}
		res.Fields = append(res.Fields, Field{"Backups", strings.TrimRight(text, "\n")})
	}
	for _, n := range notes {
		res.Fields = append(res.Fields, Field{"Note", n})
	}
	return res
}

// listRunning lists the jobs in flight (list --running run as a job).
func (w *Worker) listRunning(ctx context.Context) (*Result, error) {
	ids, err := w.store.live(ctx)
	if err != nil {
		return nil, err
	}
	var rows [][]string
	var sts []Status
	for _, id := range ids {
		st, err := w.store.get(ctx, id)
		if err != nil || st.State.Final() {
			continue
		}
		sts = append(sts, st)
		rows = append(rows, []string{id, st.Action, string(st.State), st.Meta.Requester.Display(), st.Meta.EnqueuedAt.Local().Format("15:04:05")})
	}
	res := &Result{Summary: plural(len(sts), "job") + " queued or running", Data: rawJSON(sts)}
	if len(rows) > 0 {
		res.Fields = []Field{{"Jobs", strings.TrimRight(table([]string{"JOB", "ACTION", "STATE", "BY", "QUEUED"}, rows), "\n")}}
	}
	return res, nil
}

func init() {
	register(commands.ActionList, actionSpec{Timeout: 10 * time.Minute, MaxRetry: 2, Queue: QueueDefault,
		Why: "read-only"}, (*Worker).list)
}
