package jobs

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/internal/humanize"
	"github.com/backupbot/backupbot/storage/engine"
)

// cleanup forgets backups: with --older-than those older than it (and
// those past their own retention), else what the configured retention
// policies remove; --keep-min and the policies' floor always stay. Then it
// prunes unreferenced data in two phases that never block a backup (see
// engine.Cleanup). --dry-run only reports, per backup, which rule keeps it
// or why it would go. Never retried: it deletes data.
func (w *Worker) cleanup(ctx context.Context, j *Job, c *commands.Cleanup) (*Result, error) {
	cfg := w.config()
	r, err := w.storageRepo(ctx, j, c.Storage, openOptions{})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	ns := r.storage
	req := engine.CleanupRequest{
		OlderThan: time.Duration(c.OlderThan) * 24 * time.Hour,
		KeepMin:   c.KeepMin,
		Type:      string(c.Type),
		Target:    oneTarget(c.Target),
		DryRun:    c.DryRun,
		Policy:    cfg.RetentionOn(ns.Name),
		Grace:     cfg.Retention.Grace(),
		Now:       w.now(),
	}
	req.MaxUnused, req.MaxRepackSize = cfg.Retention.Repack()
	// No policy lock on the target: the repository's prune lock keeps two
	// cleanups apart, and backups and restores run beside a cleanup.
	j.Progress(engine.Progress{Phase: engine.PhaseCleanup})
	cr, err := r.Cleanup(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("clean up storage %s: %w", ns.Name, classify(err))
	}
	out := cleanupResult(ns.Name, cr)
	if !cr.DryRun {
		r.addSize(ctx, j, out)
	}
	return out, nil
}

// cleanupResult is the summary of a cleanup (also the retention job's).
func cleanupResult(storageName string, cr *engine.CleanupResult) *Result {
	res := &Result{Data: rawJSON(cr)}
	if cr.DryRun {
		free := humanize.Bytes(cr.Reclaimable)
		if cr.Reclaimable < 0 {
			free = "an unknown amount"
		}
		res.Summary = fmt.Sprintf("Would remove %s from %s and keep %d; would free %s (dry run: nothing was deleted)",
			plural(len(cr.Removed), "backup"), storageName, cr.Kept, free)
	} else {
		res.Summary = fmt.Sprintf("Removed %s from %s, kept %d, freed %s", plural(len(cr.Removed), "backup"), storageName, cr.Kept, humanize.Bytes(cr.BytesFreed))
		if cr.BytesPending > 0 {
			res.Summary += fmt.Sprintf(" (%s more after the grace period, while backups run)", humanize.Bytes(cr.BytesPending))
		}
	}
	res.Fields = []Field{{"Storage", storageName}, {"Removed", humanCount(int64(len(cr.Removed)))}, {"Kept", humanCount(int64(cr.Kept))}}
	if cr.DryRun && cr.Reclaimable >= 0 {
		res.Fields = append(res.Fields, Field{"Would free", humanize.Bytes(cr.Reclaimable)})
	} else if !cr.DryRun {
		res.Fields = append(res.Fields, Field{"Packs deleted", humanCount(int64(cr.PacksDeleted))}, Field{"Freed", humanize.Bytes(cr.BytesFreed)})
		if cr.PacksRepacked > 0 {
			res.Fields = append(res.Fields, Field{"Repacked", fmt.Sprintf("%d mostly unused or small packs, their used data rewritten in %s", cr.PacksRepacked, humanize.Bytes(cr.BytesWritten))})
		}
		if cr.PacksPending > 0 {
			res.Fields = append(res.Fields, Field{"Pending", fmt.Sprintf("%s in %d packs, deleted by a later cleanup after the grace period", humanize.Bytes(cr.BytesPending), cr.PacksPending)})
		}
	}
	for _, w := range cr.Warnings {
		res.Fields = append(res.Fields, Field{"Warning", w})
	}
	for _, n := range cr.Notices {
		res.Fields = append(res.Fields, Field{"Note", n})
	}
	var rows [][]string
	header := []string{"NAME", "ID", "TYPE", "TARGET", "TIME"}
	if cr.DryRun {
		// Every backup, with the rule that keeps it or why it goes.
		header = append(header, "VERDICT", "WHY")
		for _, d := range cr.Decisions {
			verdict := "keep"
			if !d.Keep {
				verdict = "remove"
			}
			rows = append(rows, []string{d.Name, short(d.ID), d.Type, d.Target, d.Time.Local().Format("2006-01-02 15:04"), verdict, strings.Join(d.Reasons, ", ")})
		}
	} else {
		header = append(header, "WHY")
		for _, d := range cr.Decisions {
			if !d.Keep {
				rows = append(rows, []string{d.Name, short(d.ID), d.Type, d.Target, d.Time.Local().Format("2006-01-02 15:04"), strings.Join(d.Reasons, ", ")})
			}
		}
	}
	if len(rows) == 0 {
		return res
	}
	text := table(header, rows)
	if len(rows) > listInline {
		res.Report = &Report{Name: "cleanup.txt", Data: []byte(text)}
		text = table(header, rows[:listInline]) + fmt.Sprintf("… and %d more (see the attached list)", len(rows)-listInline)
	}
	title := "Removed"
	if cr.DryRun {
		title = "Plan"
	}
	res.Fields = append(res.Fields, Field{title, strings.TrimRight(text, "\n")})
	return res
}

func init() {
	register(commands.ActionCleanup, actionSpec{Timeout: 6 * time.Hour, MaxRetry: 0, Queue: QueueDefault,
		Why: "deletes data: never retried behind the user's back"}, (*Worker).cleanup)
}
