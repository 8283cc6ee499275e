package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/backupbot/backupbot/bot/render"
	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/storage/engine"
)

// confirmCleanup: a cleanup without --force runs only with --dry-run or
// from a terminal, where it shows the handler's own dry run (each backup
// it would remove, and why) and asks first.
func (a *app) confirmCleanup(ctx context.Context, c *commands.Cleanup) error {
	dry := *c
	dry.DryRun = true
	return a.askFirst(ctx, &dry, "cleanup deletes backups and asks first, but standard input is not a terminal: pass --force to run it without asking, or --dry-run to see what it would remove",
		cleanupQuestion, "cleanup cancelled at the prompt: nothing was removed")
}

// cleanupQuestion lists what the dry run would remove; "" when it would
// remove nothing (no question to ask).
func cleanupQuestion(res *jobs.Result) string {
	var plan engine.CleanupResult
	if json.Unmarshal(res.Data, &plan) != nil {
		return res.Summary + " Continue?"
	}
	if len(plan.Removed) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("cleanup would remove:\n")
	for _, d := range plan.Decisions {
		if d.Keep {
			continue
		}
		id := d.ID
		if len(id) > 8 {
			id = id[:8]
		}
		fmt.Fprintf(&b, "  %s (%s) %s of %s, %s: %s\n", d.Name, id, d.Type, d.Target, d.Time.Local().Format(time.DateTime), strings.Join(d.Reasons, ", "))
	}
	fmt.Fprintf(&b, "and keep %d. Remove these %d backups?", plan.Kept, len(plan.Removed))
	return b.String()
}

// confirmRestore asks before a restore over the original paths, showing
// the handler's own plan (a preview); without a terminal it asks for
// --force instead.
func (a *app) confirmRestore(ctx context.Context, c *commands.Restore) error {
	preview := *c
	preview.Preview = true
	return a.askFirst(ctx, &preview, "restoring over the original paths replaces files in place: pass --force to confirm, --to DIR to restore elsewhere, or --preview to see the plan",
		func(res *jobs.Result) string {
			return res.Summary + "\nrestore over the original paths: " + render.PlanSummary(res.Plan) + ". Continue?"
		}, "restore cancelled")
}

// askFirst runs dry (the command's plan, writing nothing), shows what it
// would do and asks on the terminal; y or yes goes on, and so does a plan
// with nothing to ask about (question ""). Without a terminal it refuses
// with needForce (bad input), and a no ends with refusal.
func (a *app) askFirst(ctx context.Context, dry commands.Command, needForce string, question func(*jobs.Result) string, refusal string) error {
	if !stdinIsTerminal(a.stdin) {
		return badInput(errors.New(needForce))
	}
	res, err := a.local(ctx, dry)
	if err != nil {
		return outcome(res, err)
	}
	q := question(res)
	if q == "" {
		return nil
	}
	fmt.Fprintf(a.stderr, "%s [y/N] ", q)
	line, _ := bufio.NewReader(a.stdin).ReadString('\n')
	if ans := strings.ToLower(strings.TrimSpace(line)); ans != "y" && ans != "yes" {
		return errors.New(refusal)
	}
	return nil
}
