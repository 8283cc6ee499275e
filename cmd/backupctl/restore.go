package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/internal/quote"
	"github.com/backupbot/backupbot/storage/engine"
)

// restore writes a backup back: to its original paths, or under --to DIR
// (each original path P lands at DIR/P). --preview only shows the plan.
func (a *app) restore(ctx context.Context, c *commands.Restore) error {
	log := a.logger(c.Diagnostics)
	ns, err := a.cfg.ResolveStorage(c.Storage)
	if err != nil {
		return badInput(err)
	}
	target := c.Target
	if target == "all" {
		target = ""
	}
	if target != "" {
		if _, err := a.cfg.ResolveTargets(target); err != nil {
			return badInput(err)
		}
	}
	r, err := a.openRepo(ctx, ns, false, false, log)
	if err != nil {
		return err
	}
	defer r.Close()
	req := engine.RestoreRequest{
		Snapshot: c.Name, At: restoreMoment(c.Date, c.Time, time.Now()), Type: string(c.Type), Target: target,
		Filter: c.Filter, To: c.To, Preview: c.Preview, Validate: c.Validate,
	}
	if req.Snapshot == "" && req.At.IsZero() {
		req.Snapshot = "latest"
	}
	if !c.Preview && c.To == "" && !c.Force {
		if err := a.confirmOverwrite(ctx, r, req); err != nil {
			return err
		}
	}
	pv := newProgressView(a.stderr)
	res, err := r.Restore(ctx, req, pv.update)
	pv.done()
	if res == nil {
		return err
	}
	if a.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(res); jerr != nil {
			return jerr
		}
		return restoreOutcome(res, err)
	}
	defer a.printLost(res)
	s := res.Snapshot
	w := a.stdout
	if c.Preview {
		counts := map[string]int{}
		var size int64
		for _, e := range res.Plan {
			counts[e.Action]++
			fmt.Fprintf(w, "%-9s %10s  %s\n", e.Action, humanBytes(e.Size), quote.Name(e.Path))
			if e.Action != engine.ActionUnchanged {
				size += e.Size
			}
		}
		fmt.Fprintf(w, "preview of restoring %s (%s) from %s: %d to create, %d to overwrite, %d unchanged, %s to write; nothing was written\n",
			s.Name, short(s.ID), ns.Name, counts[engine.ActionCreate], counts[engine.ActionOverwrite], counts[engine.ActionUnchanged], humanBytes(size))
		return restoreOutcome(res, err)
	}
	if err != nil && c.Validate && len(res.Lost) > 0 {
		fmt.Fprintf(w, "restore --validate of %s (%s): %d files cannot be restored, so nothing was written\n", s.Name, short(s.ID), len(res.Lost))
		return restoreOutcome(res, err)
	}
	where := "their original paths"
	if c.To != "" {
		where = c.To
	}
	fmt.Fprintf(w, "restored %s (%s) of target %s to %s: %d files, %s in %s\n",
		s.Name, short(s.ID), s.Target, where, res.FilesWritten, humanBytes(res.BytesWritten), res.Duration.Round(10*time.Millisecond))
	for _, warn := range res.Warnings {
		fmt.Fprintf(a.stderr, "warning: %s\n", quote.Lines(warn))
	}
	return restoreOutcome(res, err)
}

// printLost lists what a restore could not write, and what damage it
// skipped elsewhere in the repository.
func (a *app) printLost(res *engine.RestoreResult) {
	for _, n := range res.Notices {
		fmt.Fprintf(a.stderr, "note: %s\n", n)
	}
	if len(res.Lost) == 0 {
		return
	}
	fmt.Fprintf(a.stdout, "%d files could not be restored (their data is damaged or missing):\n", len(res.Lost))
	for _, l := range res.Lost {
		fmt.Fprintf(a.stdout, "  LOST %s: %s\n", printable(l.Path), l.Reason)
	}
}

// restoreOutcome is the error a restore ends with: files lost make it
// fail (exit 1) with a short count, the list having been printed.
func restoreOutcome(res *engine.RestoreResult, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, engine.ErrFilesLost) {
		return lostError(fmt.Sprintf("%d files of %s (%s) could not be restored (listed above); run verify --fix: it repairs what the sources still hold and marks what is lost",
			len(res.Lost), res.Snapshot.Name, short(res.Snapshot.ID)))
	}
	return err
}

// lostError is a restore's failure for lost files: its text says it all,
// and it is engine.ErrFilesLost.
type lostError string

func (e lostError) Error() string { return string(e) }
func (e lostError) Unwrap() error { return engine.ErrFilesLost }

// printable quotes a name that holds control characters, so that a file
// name cannot drive the terminal.
func printable(s string) string {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError {
			return strconv.Quote(s)
		}
	}
	return s
}

// restoreMoment turns --date/--time into the moment to restore (local
// time): a date alone means the end of that day, a time alone today.
func restoreMoment(d *commands.Date, t *commands.Clock, now time.Time) time.Time {
	if d == nil && t == nil {
		return time.Time{}
	}
	y, m, day := now.Date()
	if d != nil {
		y, m, day = d.Year, d.Month, d.Day
	}
	h, mi, s, ns := 23, 59, 59, 999999999
	if t != nil {
		h, mi, s, ns = t.Hour, t.Minute, t.Second, 0
	}
	return time.Date(y, m, day, h, mi, s, ns, time.Local)
}

// confirmOverwrite asks before a restore over the original paths; without
// a terminal it asks for --force instead.
func (a *app) confirmOverwrite(ctx context.Context, r *openedRepo, req engine.RestoreRequest) error {
	f, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return badInput(errors.New("restoring over the original paths replaces files in place: pass --force to confirm, --to DIR to restore elsewhere, or --preview to see the plan"))
	}
	preview := req
	preview.Preview = true
	plan, err := r.Restore(ctx, preview, nil)
	if err != nil {
		return err
	}
	over := 0
	for _, e := range plan.Plan {
		if e.Action == engine.ActionOverwrite {
			over++
		}
	}
	fmt.Fprintf(a.stderr, "restore %s (%s) over its original paths: %d entries, %d of them overwritten. Continue? [y/N] ",
		plan.Snapshot.Name, short(plan.Snapshot.ID), len(plan.Plan), over)
	line, _ := bufio.NewReader(a.stdin).ReadString('\n')
	if ans := strings.ToLower(strings.TrimSpace(line)); ans != "y" && ans != "yes" {
		return errors.New("restore cancelled")
	}
	return nil
}
