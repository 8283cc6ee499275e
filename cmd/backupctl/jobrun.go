package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/storage/engine"
)

// runJob runs cmd in-process with the service's own job handler (export,
// snapshot, analyze), showing its progress on stderr, and prints the
// result: the summary and fields, or with --json the result as JSON. A
// report the handler attaches goes to stdout, or for an export with
// --destination into that directory. Bad input exits 2, a failure 1.
func (a *app) runJob(ctx context.Context, cmd commands.Command, d commands.Diagnostics, reportDir string) error {
	deps := jobs.Deps{
		Config:   func() *config.File { return a.cfg },
		Password: config.RepoPassword,
		Logger:   a.logger(d),
	}
	pv := newProgressView(a.stderr)
	res, err := jobs.RunLocal(ctx, deps, cmd, func(p jobs.Progress) {
		pv.update(engine.Progress{Phase: p.Phase, Files: p.Files, FilesTotal: p.FilesTotal,
			Bytes: p.Bytes, BytesTotal: p.BytesTotal, Path: p.Path})
	})
	pv.done()
	if err != nil {
		if errors.Is(err, jobs.ErrBadInput) || errors.Is(err, jobs.ErrNeedsService) {
			return badInput(err)
		}
		return err
	}
	if a.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printResult(a, res)
	if res.Report == nil {
		return nil
	}
	if reportDir == "" {
		fmt.Fprintf(a.stdout, "\n%s:\n", res.Report.Name)
		_, err := a.stdout.Write(res.Report.Data)
		return err
	}
	path := filepath.Join(reportDir, filepath.Base(res.Report.Name))
	if err := os.WriteFile(path, res.Report.Data, 0o644); err != nil {
		return fmt.Errorf("write the report %s: %w", path, err)
	}
	fmt.Fprintf(a.stdout, "report written to %s\n", path)
	return nil
}

// printResult prints a job's summary and its fields as aligned
// "label: value" lines; a value of several lines continues under the first.
func printResult(a *app, res *jobs.Result) {
	fmt.Fprintln(a.stdout, res.Summary)
	width := 0
	for _, f := range res.Fields {
		width = max(width, len(f.Label))
	}
	indent := strings.Repeat(" ", width+5)
	for _, f := range res.Fields {
		value := strings.ReplaceAll(strings.TrimRight(f.Value, "\n"), "\n", "\n"+indent)
		fmt.Fprintf(a.stdout, "  %-*s  %s\n", width+1, f.Label+":", value)
	}
}
