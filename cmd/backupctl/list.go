package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/storage/engine"
)

// listedBackup is one row of list's output.
type listedBackup struct {
	Storage string `json:"storage"`
	engine.SnapshotInfo
	Verified *bool `json:"verified,omitempty"`
}

// list shows the backups in one or more storages, newest first.
func (a *app) list(ctx context.Context, c *commands.List) error {
	if c.Running {
		return badInput(errors.New("list --running shows the service's jobs; backupctl runs no jobs (ask the service: /backup list --running)"))
	}
	log := a.logger(c.Diagnostics)
	storages, err := a.cfg.ResolveStorages(c.Storage)
	if err != nil {
		return badInput(err)
	}
	f := engine.SnapshotFilter{Name: c.Name, Type: string(c.Type), Target: c.Target}
	if c.Target == "all" {
		f.Target = ""
	}
	if c.Age > 0 {
		f.NewerThan = time.Now().Add(-time.Duration(c.Age) * 24 * time.Hour)
	}
	rows := []listedBackup{}
	var errs []error
	var failed []string
	// Some storages answered and some did not: a partial listing (exit 3)
	// that names the ones missing.
	result := func() error {
		err := errors.Join(errs...)
		if err != nil && len(failed) < len(storages) {
			return &partialError{fmt.Errorf("partial listing: %s could not be read: %w", strings.Join(failed, ", "), err)}
		}
		return err
	}
	for _, ns := range storages {
		r, err := a.openRepo(ctx, ns, false, false, log)
		if errors.Is(err, engine.ErrNoRepository) {
			continue // nothing backed up there yet
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("storage %s: %w", ns.Name, err))
			failed = append(failed, ns.Name)
			continue
		}
		snaps, err := r.Snapshots(ctx, f)
		if err != nil {
			errs = append(errs, fmt.Errorf("storage %s: %w", ns.Name, err))
			failed = append(failed, ns.Name)
		}
		for _, s := range snaps {
			row := listedBackup{Storage: ns.Name, SnapshotInfo: s}
			if c.Verify {
				rep, err := r.Verify(ctx, engine.VerifyRequest{Snapshot: s.ID}, nil)
				ok := err == nil && rep.OK()
				row.Verified = &ok
			}
			rows = append(rows, row)
		}
		_ = r.Close()
	}
	if a.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			return err
		}
		return result()
	}
	if len(rows) == 0 {
		fmt.Fprintln(a.stdout, "no backups match")
		return result()
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	header := "NAME\tID\tTYPE\tTARGET\tTIME\tFILES"
	if c.Size {
		header += "\tSIZE\tADDED"
	}
	if c.Verify {
		header += "\tVERIFIED"
	}
	fmt.Fprintln(tw, header+"\tSTORAGE")
	for _, r := range rows {
		typ := r.Type
		if r.Partial {
			typ += " (partial)"
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%d", r.Name, short(r.ID), typ, r.Target, r.Time.Local().Format("2006-01-02 15:04:05"), r.Files)
		if c.Size {
			line += "\t" + humanBytes(r.Size) + "\t" + humanBytes(r.Added)
		}
		if c.Verify {
			v := "ok"
			if r.Verified == nil || !*r.Verified {
				v = "DAMAGED (run verify --deep)"
			}
			line += "\t" + v
		}
		fmt.Fprintln(tw, line+"\t"+r.Storage)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return result()
}
