package jobs

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/storage/engine"
)

// cleanup forgets backups older than --older-than (and those past their
// retention) while keeping at least --keep-min, then prunes unreferenced
// data; --dry-run only reports. Never retried: it deletes data.
func (w *Worker) cleanup(ctx context.Context, j *Job) (*Result, error) {
	c, err := command[*commands.Cleanup](j)
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
	req := engine.CleanupRequest{
		OlderThan: time.Duration(c.OlderThan) * 24 * time.Hour,
		KeepMin:   c.KeepMin,
		Type:      string(c.Type),
		Target:    c.Target,
		DryRun:    c.DryRun,
	}
	if req.Target == "all" {
		req.Target = ""
	}
	if !c.DryRun {
		lctx, release, err := w.lockTarget(ctx, j, ns.Name, req.Target)
		if err != nil {
			return nil, err
		}
		defer release()
		ctx = lctx
	}
	j.Progress(Progress{Phase: engine.PhaseCleanup})
	cr, err := r.Cleanup(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("clean up storage %s: %w", ns.Name, classify(err))
	}
	res := &Result{Data: rawJSON(cr)}
	verb := "Removed"
	if cr.DryRun || c.DryRun {
		verb = "Would remove"
	}
	res.Summary = fmt.Sprintf("%s %d backups from %s, kept %d, freed %s", verb, len(cr.Removed), ns.Name, cr.Kept, humanBytes(cr.BytesFreed))
	if c.DryRun {
		res.Summary += " (dry run: nothing was deleted)"
	}
	res.Fields = []Field{{"Storage", ns.Name}, {"Removed", humanCount(int64(len(cr.Removed)))}, {"Kept", humanCount(int64(cr.Kept))},
		{"Packs deleted", humanCount(int64(cr.PacksDeleted))}, {"Freed", humanBytes(cr.BytesFreed)}}
	if len(cr.Removed) > 0 {
		rows := make([][]string, len(cr.Removed))
		for i, s := range cr.Removed {
			rows[i] = []string{s.Name, short(s.ID), s.Type, s.Target, s.Time.Local().Format("2006-01-02 15:04")}
		}
		text := table([]string{"NAME", "ID", "TYPE", "TARGET", "TIME"}, rows)
		if len(rows) > listInline {
			res.Report = &Report{Name: "cleanup.txt", Data: []byte(text)}
			text = table([]string{"NAME", "ID", "TYPE", "TARGET", "TIME"}, rows[:listInline]) + fmt.Sprintf("… and %d more (see the attached list)", len(rows)-listInline)
		}
		res.Fields = append(res.Fields, Field{verb, strings.TrimRight(text, "\n")})
	}
	for _, n := range cr.Notices {
		res.Fields = append(res.Fields, Field{"Note", n})
	}
	return res, nil
}
