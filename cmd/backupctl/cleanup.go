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
	"github.com/backupbot/backupbot/jobs"
)

// confirmCleanup: a cleanup without --force runs only with --dry-run or
// from a terminal, where it shows the handler's own dry run and asks first.
func (a *app) confirmCleanup(ctx context.Context, c *commands.Cleanup) error {
	dry := *c
	dry.DryRun = true
	return a.askFirst(ctx, &dry, "cleanup deletes backups: pass --force to confirm, or --dry-run to see what it would remove",
		func(res *jobs.Result) string { return res.Summary }, "cleanup cancelled")
}

// confirmRestore asks before a restore over the original paths, showing
// the handler's own plan (a preview); without a terminal it asks for
// --force instead.
func (a *app) confirmRestore(ctx context.Context, c *commands.Restore) error {
	preview := *c
	preview.Preview = true
	return a.askFirst(ctx, &preview, "restoring over the original paths replaces files in place: pass --force to confirm, --to DIR to restore elsewhere, or --preview to see the plan",
		func(res *jobs.Result) string {
			return res.Summary + "\nrestore over the original paths: " + render.PlanSummary(res.Plan) + "."
		}, "restore cancelled")
}

// askFirst runs dry (the command's plan, writing nothing), shows what it
// would do and asks on the terminal; y or yes goes on. Without a terminal
// it refuses with needForce (bad input), and a no ends with refusal.
func (a *app) askFirst(ctx context.Context, dry commands.Command, needForce string, question func(*jobs.Result) string, refusal string) error {
	f, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return badInput(errors.New(needForce))
	}
	res, err := a.local(ctx, dry)
	if err != nil {
		return outcome(res, err)
	}
	fmt.Fprintf(a.stderr, "%s Continue? [y/N] ", question(res))
	line, _ := bufio.NewReader(a.stdin).ReadString('\n')
	if ans := strings.ToLower(strings.TrimSpace(line)); ans != "y" && ans != "yes" {
		return errors.New(refusal)
	}
	return nil
}
