package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/backupbot/backupbot/bot/render"
	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/jobs"
)

// deps are what the handlers need, from backupctl's configuration.
func (a *app) deps() jobs.Deps {
	return jobs.Deps{
		Config:   func() *config.File { return a.cfg },
		Password: config.RepoPassword,
		Logger:   a.logger(),
		Redact:   a.redactor(),
	}
}

// local runs cmd with the worker's handler in this process, showing its
// progress on stderr.
func (a *app) local(ctx context.Context, cmd commands.Command) (*jobs.Result, error) {
	pv := newProgressView(a.stderr)
	defer pv.done()
	return jobs.RunLocal(ctx, a.deps(), cmd, pv.update)
}

// runJob runs cmd in-process with the service's own job handler, showing
// its progress on stderr, and prints the result as chat words it
// (render.Text), or with --json the result as JSON. A report the handler
// attaches goes to stdout, or into a directory: an export's --destination,
// the working directory for verify's report. The exit code follows the
// result's state: bad input 2, a failure 1, a partial result 3.
func (a *app) runJob(ctx context.Context, cmd commands.Command) error {
	res, err := a.local(ctx, cmd)
	if res != nil {
		if perr := a.printResult(cmd, res, err == nil); perr != nil {
			return errors.Join(err, perr)
		}
	}
	return outcome(res, err)
}

// outcome is the error backupctl ends with for a job's result and error.
func outcome(res *jobs.Result, err error) error {
	switch {
	case errors.Is(err, jobs.ErrBadInput):
		return badInput(err)
	case errors.Is(err, jobs.ErrNeedsService):
		return fmt.Errorf("%w: run backupbot serve and use the chat or console adapter", err)
	case err != nil:
		return err
	case res != nil && res.Partial:
		// The summary says what is missing; a backup names what it skipped.
		msg := "partial result: " + res.Summary
		for _, f := range res.Fields {
			if f.Label == "Skipped" {
				msg += ":\n" + f.Value
			}
		}
		return &partialError{err: errors.New(msg)}
	}
	return nil
}

// printResult prints res: the text (or JSON) on stdout, then its report;
// ok says whether the job succeeded.
func (a *app) printResult(cmd commands.Command, res *jobs.Result, ok bool) error {
	if a.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else if _, err := io.WriteString(a.stdout, render.Text(res)); err != nil {
		return err
	}
	if res.Report == nil {
		return nil
	}
	dir := ""
	switch c := cmd.(type) {
	case *commands.Export:
		dir = c.Destination
	case *commands.Verify:
		dir = "."
	}
	if dir == "" {
		if a.json {
			return nil // the JSON holds the report
		}
		_, err := fmt.Fprintf(a.stdout, "\n%s:\n%s", res.Report.Name, res.Report.Data)
		return err
	}
	paths := []string{filepath.Join(dir, filepath.Base(res.Report.Name))}
	files := [][]byte{res.Report.Data}
	if _, ok := cmd.(*commands.Verify); ok && a.json {
		// verify --report --json: the machine-readable report beside it.
		data, err := json.MarshalIndent(struct {
			OK     bool            `json:"ok"`
			Result *jobs.Result    `json:"result"`
			Report json.RawMessage `json:"report"`
		}{ok, res, res.Data}, "", "  ")
		if err != nil {
			return err
		}
		paths = append(paths, strings.TrimSuffix(paths[0], filepath.Ext(paths[0]))+".json")
		files = append(files, append(data, '\n'))
	}
	msgs := a.stdout
	if a.json {
		msgs = a.stderr
	}
	for i, p := range paths {
		if err := os.WriteFile(p, files[i], 0o644); err != nil {
			return fmt.Errorf("write the report %s: %w", p, err)
		}
		fmt.Fprintf(msgs, "report written to %s\n", p)
	}
	return nil
}
