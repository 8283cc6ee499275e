package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/backupbot/backupbot/bot/render"
	"github.com/backupbot/backupbot/commands"
)

// confirmRestore asks before a restore over the original paths, showing
// the handler's own plan (a preview); without a terminal it asks for
// --force instead.
func (a *app) confirmRestore(ctx context.Context, c *commands.Restore) error {
	if !a.interactive() {
		return badInput(errors.New("restoring over the original paths replaces files in place: pass --force to confirm, --to DIR to restore elsewhere, or --preview to see the plan"))
	}
	preview := *c
	preview.Preview = true
	res, err := a.local(ctx, &preview)
	if err != nil {
		return outcome(res, err)
	}
	fmt.Fprintf(a.stderr, "%s\nrestore over the original paths: %s. Continue? [y/N] ", res.Summary, render.PlanSummary(res.Plan))
	return a.yes("restore cancelled")
}

// interactive reports whether stdin is a terminal someone can answer on.
func (a *app) interactive() bool {
	f, ok := a.stdin.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// yes reads one answer line: y or yes goes on, anything else is refused
// with refusal.
func (a *app) yes(refusal string) error {
	line, _ := bufio.NewReader(a.stdin).ReadString('\n')
	if ans := strings.ToLower(strings.TrimSpace(line)); ans != "y" && ans != "yes" {
		return errors.New(refusal)
	}
	return nil
}
