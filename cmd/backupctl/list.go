package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/storage/engine"
)

// listedBackup is one row of list's output.
type listedBackup struct {
	Storage string `json:"storage"`
	engine.SnapshotInfo
	Verified *bool `json:"verified,omitempty"`
	// Problem says what a flagged backup needs that is missing or damaged.
	Problem string `json:"problem,omitempty"`
	// Copies are the storages that hold the backup (itself or a copy of
	// it), when copies are configured or exist.
	Copies []string `json:"copies,omitempty"`
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
	var notes []string
	flagged := 0
	var failed []string
	// Some storages answered and some did not: a partial listing (exit 3)
	// that names the ones missing.
	result := func() error {
		err := errors.Join(errs...)
		if err != nil && len(failed) > 0 && len(failed) < len(storages) && flagged == 0 {
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
		listing, err := r.List(ctx, engine.ListRequest{Filter: f, Verify: c.Verify})
		if err != nil {
			errs = append(errs, fmt.Errorf("storage %s: %w", ns.Name, err))
			failed = append(failed, ns.Name)
			listing = &engine.Listing{}
		}
		for _, n := range listing.Notices {
			notes = append(notes, ns.Name+": "+n)
		}
		for _, s := range listing.Snapshots {
			row := listedBackup{Storage: ns.Name, SnapshotInfo: s}
			if c.Verify {
				why, bad := listing.Problems[s.ID]
				ok := !bad
				row.Verified, row.Problem = &ok, why
				if bad {
					flagged++
				}
			}
			rows = append(rows, row)
		}
		_ = r.Close()
	}
	got := map[string][]engine.SnapshotInfo{}
	for _, ns := range storages {
		got[ns.Name] = []engine.SnapshotInfo{}
	}
	for _, r := range rows {
		got[r.Storage] = append(got[r.Storage], r.SnapshotInfo)
	}
	deps := jobs.Deps{Config: func() *config.File { return a.cfg }, Password: config.RepoPassword, Logger: log}
	holders := jobs.CopyHolders(ctx, deps, got, f)
	withCopies := false
	for i := range rows {
		rows[i].Copies = holders(rows[i].SnapshotInfo)
		withCopies = withCopies || len(rows[i].Copies) > 0
	}
	rule := ""
	if f.Target != "" {
		rule = "3-2-1: " + f.Target + ": " + jobs.ThreeTwoOne(ctx, deps, nil, f.Target, slices.Collect(maps.Keys(got))...).Line()
	}
	if flagged > 0 {
		errs = append(errs, fmt.Errorf("%d backups need data that is missing or damaged; verify --deep names the files, verify --fix repairs what the sources still hold", flagged))
	}
	defer func() {
		for _, n := range notes {
			fmt.Fprintf(a.stderr, "note: %s\n", n)
		}
	}()
	if rule != "" && (a.json || len(rows) == 0) {
		notes = append(notes, rule)
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
		if len(errs) == 0 { // an error is not an empty listing
			fmt.Fprintln(a.stdout, "no backups match")
		}
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
	header += "\tSTORAGE"
	if withCopies {
		header += "\tCOPIES"
	}
	fmt.Fprintln(tw, header)
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
				v = "DAMAGED: " + printable(r.Problem)
			}
			line += "\t" + v
		}
		line += "\t" + r.Storage
		if withCopies {
			line += "\t" + strings.Join(r.Copies, ", ")
		}
		fmt.Fprintln(tw, line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if rule != "" {
		fmt.Fprintln(a.stdout, rule)
	}
	for _, r := range rows {
		if len(r.Lost) > 0 {
			fmt.Fprintf(a.stdout, "%s (%s) is marked damaged: %d files are lost for good (a restore names them), the rest restores\n", r.Name, short(r.ID), len(r.Lost))
		}
	}
	return result()
}
