package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/backupbot/backupbot/storage/engine"
)

// errDeclined is a confirmation the user answered with anything but yes.
var errDeclined = errors.New("cleanup cancelled at the prompt: nothing was removed")

// stdinIsTerminal reports whether r is a terminal someone can answer a
// prompt on (a variable, so tests can stand in for a terminal).
var stdinIsTerminal = func(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// needTerminal refuses, as bad input (exit 2), a command that must be
// confirmed when nobody can answer a prompt: what stays the same in chat
// (a Confirm button) is a y/N prompt here, and a script must say --force.
func (a *app) needTerminal(what string) error {
	if stdinIsTerminal(a.stdin) {
		return nil
	}
	return badInput(fmt.Errorf("%s and asks first, but standard input is not a terminal: pass --force to run it without asking, or --dry-run to see what it would remove", what))
}

// confirmCleanup shows what a cleanup would remove (its dry run) and asks
// y/N on the terminal; anything but y or yes declines. Nothing to remove
// needs no question.
func (a *app) confirmCleanup(plan *engine.CleanupResult) error {
	if len(plan.Removed) == 0 {
		fmt.Fprintf(a.stderr, "cleanup: nothing to remove (%d backups kept)\n", plan.Kept)
		return nil
	}
	fmt.Fprintln(a.stderr, "cleanup would remove:")
	for _, d := range plan.Decisions {
		if d.Keep {
			continue
		}
		id := d.ID
		if len(id) > 8 {
			id = id[:8]
		}
		fmt.Fprintf(a.stderr, "  %s (%s) %s of %s, %s: %s\n", d.Name, id, d.Type, d.Target, d.Time.Local().Format(time.DateTime), strings.Join(d.Reasons, ", "))
	}
	fmt.Fprintf(a.stderr, "and keep %d. Remove these %d backups? [y/N] ", plan.Kept, len(plan.Removed))
	line, _ := bufio.NewReader(a.stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return errDeclined
}
