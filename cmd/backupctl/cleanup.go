package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/backupbot/backupbot/commands"
)

// confirmCleanup: a cleanup without --force runs only with --dry-run or
// from a terminal, where it shows the handler's own dry run and asks first.
func (a *app) confirmCleanup(ctx context.Context, c *commands.Cleanup) error {
	if !a.interactive() {
		return badInput(errors.New("cleanup deletes backups: pass --force to confirm, or --dry-run to see what it would remove"))
	}
	dry := *c
	dry.DryRun = true
	res, err := a.local(ctx, &dry)
	if err != nil {
		return outcome(res, err)
	}
	fmt.Fprintf(a.stderr, "%s\nContinue? [y/N] ", res.Summary)
	return a.yes("cleanup cancelled")
}
