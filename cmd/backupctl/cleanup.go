package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/storage/engine"
)

// cleanup removes old backups by age and count, then the data only they
// used. Without --force it runs only with --dry-run or from a terminal,
// where it shows the plan and asks first.
func (a *app) cleanup(ctx context.Context, c *commands.Cleanup) error {
	log := a.logger(c.Diagnostics)
	ns, err := a.cfg.ResolveStorage(c.Storage)
	if err != nil {
		return badInput(err)
	}
	r, err := a.openRepo(ctx, ns, false, false, log)
	if err != nil {
		return err
	}
	defer r.Close()
	req := engine.CleanupRequest{
		OlderThan: time.Duration(c.OlderThan) * 24 * time.Hour, KeepMin: c.KeepMin, Type: string(c.Type), Target: c.Target, DryRun: c.DryRun,
		Policy: a.cfg.RetentionOn(ns.Name), Grace: a.cfg.Retention.Grace(),
	}
	req.MaxUnused, req.MaxRepackSize = a.cfg.Retention.Repack()
	if req.Target == "all" {
		req.Target = ""
	}
	if !c.DryRun && !c.Force { // the dry run, then y/N on a terminal (confirm.go)
		if err := a.needTerminal("cleanup deletes backups"); err != nil {
			return err
		}
		plan := req
		plan.DryRun = true
		res, err := r.Cleanup(ctx, plan)
		if err != nil {
			return err
		}
		if err := a.confirmCleanup(res); err != nil {
			return err
		}
	}
	res, err := r.Cleanup(ctx, req)
	if err != nil {
		return err
	}
	if a.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	verb := "removed"
	if res.DryRun {
		verb = "would remove"
	}
	for _, d := range res.Decisions {
		switch {
		case !d.Keep:
			fmt.Fprintf(a.stdout, "%s %s (%s) %s of %s, %s: %s\n", verb, d.Name, short(d.ID), d.Type, d.Target, d.Time.Local().Format(time.DateTime), strings.Join(d.Reasons, ", "))
		case res.DryRun:
			fmt.Fprintf(a.stdout, "keep %s (%s) %s of %s, %s: %s\n", d.Name, short(d.ID), d.Type, d.Target, d.Time.Local().Format(time.DateTime), strings.Join(d.Reasons, ", "))
		}
	}
	fmt.Fprintf(a.stdout, "%s %d backups, kept %d", verb, len(res.Removed), res.Kept)
	if res.DryRun && res.Reclaimable >= 0 {
		fmt.Fprintf(a.stdout, "; would free %s", humanBytes(res.Reclaimable))
	}
	if !res.DryRun {
		fmt.Fprintf(a.stdout, "; deleted %d packs, freed %s", res.PacksDeleted, humanBytes(res.BytesFreed))
		if res.BytesPending > 0 {
			fmt.Fprintf(a.stdout, " (%s more after the grace period: backups were running)", humanBytes(res.BytesPending))
		}
	}
	fmt.Fprintln(a.stdout)
	for _, n := range res.Notices {
		fmt.Fprintf(a.stderr, "note: %s\n", n)
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(a.stderr, "warning:", w)
	}
	return nil
}
