package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/storage/engine"
)

// verify checks the repository: structure and index always, every chunk's
// bytes with --deep; --fix repairs what can be repaired (see
// engine.Verify) and marks what is lost.
func (a *app) verify(ctx context.Context, c *commands.Verify) error {
	log := a.logger(c.Diagnostics)
	ns, err := a.cfg.ResolveStorage(c.Storage)
	if err != nil {
		return badInput(err)
	}
	r, err := a.openRepoWith(ctx, ns, engine.OpenOptions{RebuildConfig: c.Fix, Logger: log})
	if err != nil {
		return err
	}
	defer r.Close()
	pv := newProgressView(a.stderr)
	rep, err := r.Verify(ctx, engine.VerifyRequest{Snapshot: c.Name, All: c.All, Deep: c.Deep, Fix: c.Fix}, pv.update)
	pv.done()
	if err != nil {
		return err
	}
	var reports []string
	if c.Report {
		if reports, err = writeVerifyReport(c, ns.Name, r.Location(), rep, a.json, time.Now()); err != nil {
			return err
		}
	}
	if a.json {
		for _, p := range reports {
			fmt.Fprintf(a.stderr, "report written to %s\n", p)
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		w := a.stdout
		kind := "quick"
		if c.Deep || c.Fix { // a repair checks every blob
			kind = "deep"
		}
		fmt.Fprintf(w, "%s verification of %s (%s): %d snapshots, %d packs, %d chunk references", kind, ns.Name, r.Location(), rep.Snapshots, rep.Packs, rep.Chunks)
		if c.Deep {
			fmt.Fprintf(w, ", %s read and checked", humanBytes(rep.BytesVerified))
		}
		fmt.Fprintln(w)
		for _, p := range rep.Problems {
			fmt.Fprintf(w, "  PROBLEM %s\n", describeProblem(p))
		}
		for _, f := range rep.Fixed {
			fmt.Fprintf(w, "  fixed: %s\n", f)
		}
		for _, n := range rep.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
		for _, l := range rep.StaleLocks {
			fmt.Fprintf(w, "  stale lock: %s (verify --fix removes it)\n", l)
		}
		if c.Report || rep.Unreferenced > 0 {
			fmt.Fprintf(w, "  unreferenced packs (left by interrupted backups; a cleanup removes them): %d\n", rep.Unreferenced)
		}
		if rep.OK() {
			fmt.Fprintln(w, "no problems found")
		}
		for _, p := range reports {
			fmt.Fprintf(w, "report written to %s\n", p)
		}
	}
	if !rep.OK() {
		return fmt.Errorf("verification found %d problems in %s", len(rep.Problems), ns.Name)
	}
	return nil
}

func describeProblem(p engine.Problem) string {
	s := ""
	if p.Snapshot != "" {
		s += "snapshot " + p.Snapshot + ": "
	}
	if p.File != "" {
		s += printable(p.File) + ": "
	}
	s += p.Detail
	if p.Pack != "" {
		s += " [pack " + short(p.Pack) + "]"
	}
	return s
}
