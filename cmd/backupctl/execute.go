package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/policy/audit"
)

// execute runs one parsed command in-process with the service's own job
// handler (jobs.RunLocal); backupctl only adds the terminal's
// confirmations before a restore over the original paths and a cleanup.
// Actions that need the service (schedules, approvals, jobs) say so.
func execute(ctx context.Context, a *app, cmd commands.Command) error {
	// The engine's big buffers (packs, chunks) live for the whole run, so
	// collecting more often costs little CPU and keeps the peak memory near
	// what is really in use.
	debug.SetGCPercent(25)
	if err := a.useGeneratedPassword(); err != nil {
		return err
	}
	switch c := cmd.(type) {
	case *commands.Restore:
		if !c.Preview && c.To == "" && !c.Force {
			if err := a.confirmRestore(ctx, c); err != nil {
				return err
			}
		}
	case *commands.Cleanup:
		if !c.DryRun && !c.Force {
			if err := a.confirmCleanup(ctx, c); err != nil {
				return err
			}
		}
	}
	return a.runJob(ctx, cmd)
}

// useGeneratedPassword: with the embedded defaults (no configuration
// file) and no password in the environment, backupctl uses the same
// generated password file as `make run` (./var/repo-password), creating it
// when it is the first to need it, so a fresh clone's first backup is
// encrypted. With a configuration file nothing is generated.
func (a *app) useGeneratedPassword() error {
	if a.cfgPath != "" {
		return nil
	}
	g, err := a.cfg.UseGeneratedPassword()
	if err != nil {
		return err
	}
	if g.Created {
		fmt.Fprintf(a.stderr, "backupctl: %s\n", g.Message())
	}
	return nil
}

// logger logs warnings to stderr, secrets redacted; what --verbose and
// --debug add (phases, storage calls, the job's log) is in the result.
func (a *app) logger() *slog.Logger {
	redact := a.redactor()
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn, ReplaceAttr: func(_ []string, at slog.Attr) slog.Attr {
		if at.Value.Kind() == slog.KindString {
			at.Value = slog.StringValue(redact(at.Value.String()))
		} else if err, ok := at.Value.Any().(error); ok {
			at.Value = slog.StringValue(redact(err.Error()))
		}
		return at
	}}))
}

// redactor removes the secrets the environment holds (the repository
// password, tokens) and anything shaped like a credential from text.
func (a *app) redactor() func(string) string {
	return audit.NewRedactor(audit.SecretsFromEnv(policy.AuditConfig{}, os.Getenv)).Redact
}
