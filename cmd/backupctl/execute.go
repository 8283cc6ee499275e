package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/storage"
	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/engine"
)

// execute runs one parsed command in-process. Actions that need the
// service (schedules, approvals, jobs) say so.
func execute(ctx context.Context, a *app, cmd commands.Command) error {
	// The engine's big buffers (packs, chunks) live for the whole run, so
	// collecting more often costs little CPU and keeps the peak memory near
	// what is really in use.
	debug.SetGCPercent(25)
	if err := a.useGeneratedPassword(); err != nil {
		return err
	}
	switch c := cmd.(type) {
	case *commands.Create:
		return a.create(ctx, c)
	case *commands.Restore:
		return a.restore(ctx, c)
	case *commands.List:
		return a.list(ctx, c)
	case *commands.Verify:
		if c.RestoreTest { // a recovery drill: the workers' own handler
			return a.runJob(ctx, c, c.Diagnostics, "")
		}
		return a.verify(ctx, c)
	case *commands.Cleanup:
		return a.cleanup(ctx, c)
	case *commands.Test:
		return runTest(ctx, a, c)
	case *commands.Export:
		return a.runJob(ctx, c, c.Diagnostics, c.Destination)
	case *commands.Snapshot:
		return a.runJob(ctx, c, c.Diagnostics, "")
	case *commands.Analyze:
		return a.runJob(ctx, c, c.Diagnostics, "")
	case *commands.Copy:
		return a.runJob(ctx, c, c.Diagnostics, "")
	}
	return fmt.Errorf("backupctl runs create, restore, list, verify, cleanup, test, export, snapshot, analyze and copy itself; %q needs the backupbot service (backupbot serve, then the chat or console adapter)", cmd.Action())
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

// logger logs warnings to stderr, more with --verbose or --debug.
func (a *app) logger(d commands.Diagnostics) *slog.Logger {
	level := slog.LevelWarn
	switch {
	case d.Debug:
		level = slog.LevelDebug
	case d.Verbose:
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
}

// openedRepo is an engine on a backend, closed together.
type openedRepo struct {
	*engine.Engine
	name string
	be   backend.Backend
}

func (o *openedRepo) Close() error { return errors.Join(o.Engine.Close(), o.be.Close()) }

// openRepo opens (with create, creates) the repository in a storage.
func (a *app) openRepo(ctx context.Context, ns config.NamedStorage, create, encrypt bool, log *slog.Logger) (*openedRepo, error) {
	return a.openRepoWith(ctx, ns, engine.OpenOptions{Create: create, Encrypt: encrypt, Logger: log})
}

// openRepoWith opens the repository in a storage with opts, which get the
// storage's password and encryption setting.
func (a *app) openRepoWith(ctx context.Context, ns config.NamedStorage, opts engine.OpenOptions) (*openedRepo, error) {
	pw, err := config.RepoPassword(ns.Spec)
	if err != nil {
		return nil, err
	}
	b, err := storage.Open(ctx, ns.Spec)
	if err != nil {
		return nil, fmt.Errorf("storage %s: %w", ns.Name, err)
	}
	opts.Password, opts.Plaintext = pw, ns.Spec.Plaintext()
	e, err := engine.Open(ctx, b, opts)
	if err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("storage %s: %w", ns.Name, err)
	}
	for _, w := range e.Warnings() {
		fmt.Fprintf(a.stderr, "backupctl: WARNING: %s\n", w)
	}
	return &openedRepo{Engine: e, name: ns.Name, be: b}, nil
}
