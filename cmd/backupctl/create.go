package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/internal/quote"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/storage/engine"
)

// createOutput is what create prints with --json.
type createOutput struct {
	Storage  string                 `json:"storage"`
	Location string                 `json:"location"`
	Results  []*engine.BackupResult `json:"results"`
	// Copies are the copies to the targets' copy storages made after.
	Copies []*jobs.Result `json:"copies,omitempty"`
}

// create backs up each selected target into the storage, creating the
// repository on first use (encrypted when a password is set).
func (a *app) create(ctx context.Context, c *commands.Create) error {
	log := a.logger(c.Diagnostics)
	ns, err := a.cfg.ResolveStorage(c.Storage)
	if err != nil {
		return badInput(err)
	}
	targets, err := a.cfg.ResolveTargets(c.Target)
	if err != nil {
		return badInput(err)
	}
	r, err := a.openRepo(ctx, ns, true, c.Encrypt, log)
	if err != nil {
		return err
	}
	defer r.Close()
	out := createOutput{Storage: ns.Name, Location: r.Location()}
	tags := map[string]string{}
	for _, t := range c.Tags {
		tags[t.Key] = t.Value
	}
	var errs []error
	for _, t := range targets {
		pv := newProgressView(a.stderr)
		res, err := r.Backup(ctx, engine.BackupRequest{
			Paths: t.Target.Paths, Exclude: t.Target.Exclude, Type: string(c.Type), Name: c.Name, Target: t.Name,
			Tags: tags, Compress: c.Compress, RequireEncryption: c.Encrypt, Retention: time.Duration(c.Retention) * 24 * time.Hour,
		}, pv.update)
		pv.done()
		if err != nil {
			errs = append(errs, fmt.Errorf("target %s: %w", t.Name, err))
			continue
		}
		out.Results = append(out.Results, res)
		if !a.json {
			printBackup(a, ns.Name, r.Location(), res)
		}
	}
	errs = append(errs, a.copies(ctx, ns.Name, &out, c.Diagnostics)...)
	if a.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return partialBackups(out.Results)
}

// partialBackups returns a partialError naming what the backups skipped,
// or nil when they are complete.
func partialBackups(rs []*engine.BackupResult) error {
	var lines []string
	var count int64
	for _, r := range rs {
		s := r.Snapshot
		if !s.Partial {
			continue
		}
		count += s.SkippedCount
		for _, sk := range s.Skipped {
			lines = append(lines, "  "+quote.Name(sk.Path)+": "+sk.Error)
		}
		if n := s.SkippedCount - int64(len(s.Skipped)); n > 0 {
			lines = append(lines, fmt.Sprintf("  … and %d more (backupctl --json list shows the snapshot's list)", n))
		}
	}
	if count == 0 {
		return nil
	}
	return &partialError{err: fmt.Errorf("the backup is PARTIAL: %d file(s) could not be read and are not in it:\n%s", count, strings.Join(lines, "\n"))}
}

func printBackup(a *app, storageName, location string, res *engine.BackupResult) {
	s := res.Snapshot
	w := a.stdout
	if res.Reused {
		fmt.Fprintf(w, "backup %s (%s) already exists for this job; nothing new was made\n", s.Name, short(s.ID))
		return
	}
	fmt.Fprintf(w, "backup %s (%s), %s of target %s, stored in %s (%s)\n", s.Name, short(s.ID), s.Type, s.Target, storageName, location)
	fmt.Fprintf(w, "  files:       %d new, %d changed, %d unchanged (%d files, %d directories, %s)\n",
		res.FilesNew, res.FilesChanged, res.FilesUnchanged, s.Files, s.Dirs, humanBytes(s.Size))
	fmt.Fprintf(w, "  read:        %s\n", humanBytes(res.BytesRead))
	fmt.Fprintf(w, "  added:       %s to the repository\n", humanBytes(res.BytesAdded))
	dedup := "nothing new to store"
	if res.DedupRatio > 0 {
		dedup = fmt.Sprintf("%.2fx", res.DedupRatio)
	}
	comp := "-"
	if res.CompressionRatio > 0 {
		comp = fmt.Sprintf("%.2fx", res.CompressionRatio)
	}
	fmt.Fprintf(w, "  dedup:       %s   compression: %s\n", dedup, comp)
	fmt.Fprintf(w, "  duration:    %s\n", res.Duration.Round(10*time.Millisecond))
	if !s.ExpiresAt.IsZero() {
		fmt.Fprintf(w, "  expires:     %s\n", s.ExpiresAt.Local().Format(time.DateTime))
	}
	for _, warn := range res.Warnings {
		fmt.Fprintf(a.stderr, "warning: %s\n", quote.Lines(warn))
	}
	for _, n := range res.Notices {
		fmt.Fprintf(a.stderr, "note: %s\n", n)
	}
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// copies copies each new backup to its target's copy storages (config
// targets.NAME.copies), in-process with the workers' copy handler, as the
// service queues a copy job per storage after a backup.
func (a *app) copies(ctx context.Context, storageName string, out *createOutput, d commands.Diagnostics) []error {
	deps := jobs.Deps{Config: func() *config.File { return a.cfg }, Password: config.RepoPassword, Logger: a.logger(d)}
	var errs []error
	for _, r := range out.Results {
		for _, to := range a.cfg.CopiesOf(r.Snapshot.Target, storageName) {
			cmd := &commands.Copy{Name: r.Snapshot.ID, Target: r.Snapshot.Target, To: to, Storage: commands.StorageRef{Name: storageName}}
			pv := newProgressView(a.stderr)
			res, err := jobs.RunLocal(ctx, deps, cmd, func(p jobs.Progress) {
				pv.update(engine.Progress{Phase: p.Phase, Bytes: p.Bytes, BytesTotal: p.BytesTotal, Path: p.Path})
			})
			pv.done()
			if err != nil {
				errs = append(errs, fmt.Errorf("copy of %s to %s: %w", r.Snapshot.Name, to, err))
				continue
			}
			out.Copies = append(out.Copies, res)
			if !a.json {
				fmt.Fprintln(a.stdout, res.Summary)
			}
		}
	}
	return errs
}
