package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/storage"
	"github.com/backupbot/backupbot/storage/probe"
)

// testFailed is the error of a storage test that ran and failed: its text
// is the report's one-sentence summary (the report itself is on stdout),
// and it wraps the failed step's error for errors.Is.
type testFailed struct {
	summary string
	err     error
}

func (e *testFailed) Error() string { return e.summary }
func (e *testFailed) Unwrap() error { return e.err }

// runTest is `backupctl test --storage NAME [--debug]`: it probes the
// storage (list, write, stat, read, ranged read and delete of an object
// under probes/), prints the timed report, or JSON with --json, and
// fails (exit 1) when any step fails, saying which of the usual causes it
// is: rejected credentials, a missing bucket or container, or an
// unreachable endpoint.
func runTest(ctx context.Context, a *app, c *commands.Test) error {
	ns, err := a.cfg.ResolveStorage(c.Storage)
	if err != nil {
		return badInput(err)
	}
	log := a.logger(c.Diagnostics)
	log.Debug("testing storage", "storage", ns.Name, "type", ns.Spec.Type)
	b, err := storage.Open(ctx, ns.Spec)
	if err != nil {
		return fmt.Errorf("storage %s: %w", ns.Name, err)
	}
	defer b.Close()
	rep, err := probe.Run(ctx, b, probe.Options{})
	if rep == nil {
		return fmt.Errorf("storage %s: %w", ns.Name, err)
	}
	if a.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		out := struct {
			Storage string `json:"storage"`
			*probe.Report
		}{ns.Name, rep}
		if jerr := enc.Encode(out); jerr != nil {
			return jerr
		}
	} else {
		kind := ns.Spec.Type
		if kind == "" {
			kind = storage.KindLocal
		}
		fmt.Fprintf(a.stdout, "storage %s (%s)\n", ns.Name, kind)
		if werr := rep.WriteText(a.stdout, c.Debug); werr != nil {
			return werr
		}
	}
	if err != nil {
		return &testFailed{summary: fmt.Sprintf("storage %s failed its test: %s", ns.Name, rep.Summary), err: err}
	}
	return nil
}
