package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/internal/humanize"
	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/engine"
)

// repo is an open repository and what closes it.
type repo struct {
	*engine.Engine
	storage config.NamedStorage
	b       backend.Backend
}

func (r *repo) Close() error {
	return errors.Join(r.Engine.Close(), r.b.Close())
}

// openOptions says how openRepo treats a missing or plaintext repository.
type openOptions struct {
	Create  bool // initialise a repository when there is none
	Encrypt bool // require (or create) an encrypted repository
	// RebuildConfig (verify --fix) rebuilds a lost config from a key file.
	RebuildConfig bool
	// DeferIndex leaves reading the index to the operation (create:
	// Backup reads it under its lock).
	DeferIndex bool
	// Fresh reads the snapshot files and derives the key again instead of
	// taking them from the worker's cache (verify looks at what is stored
	// now).
	Fresh bool
}

// openRepo opens the repository in a storage with its password.
func (w *Worker) openRepo(ctx context.Context, ns config.NamedStorage, j *Job, o openOptions) (*repo, error) {
	pw, err := w.deps.Password(ns.Spec)
	if err != nil {
		return nil, permanent(fmt.Errorf("repository password for storage %s: %w", ns.Name, err))
	}
	b, err := w.openBackend(ctx, j, ns.Spec)
	if err != nil {
		return nil, fmt.Errorf("open storage %s: %w", ns.Name, classify(err))
	}
	cache := w.repos
	if o.Fresh {
		cache = nil
	}
	e, err := engine.Open(ctx, b, engine.OpenOptions{Password: pw, Plaintext: ns.Spec.Plaintext(), Create: o.Create, Encrypt: o.Encrypt,
		RebuildConfig: o.RebuildConfig, DeferIndex: o.DeferIndex, Logger: j.Logger, Cache: cache})
	if err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("storage %s: %w", ns.Name, classify(err))
	}
	return &repo{Engine: e, storage: ns, b: b}, nil
}

// storageRepo opens the repository in the storage a command names; an
// unknown storage is bad input.
func (w *Worker) storageRepo(ctx context.Context, j *Job, ref commands.StorageRef, o openOptions) (*repo, error) {
	ns, err := w.config().ResolveStorage(ref)
	if err != nil {
		return nil, badInput(err)
	}
	return w.openRepo(ctx, ns, j, o)
}

// classify marks engine and backend errors that a retry cannot fix (the
// engine's messages already say what to do about them).
func classify(err error) error {
	switch {
	case errors.Is(err, engine.ErrWrongPassword), errors.Is(err, engine.ErrNoRepository),
		errors.Is(err, engine.ErrNotEncrypted), errors.Is(err, engine.ErrSnapshotNotFound),
		errors.Is(err, engine.ErrPasswordRequired), errors.Is(err, engine.ErrConfigMissing), errors.Is(err, engine.ErrKeyDamaged),
		errors.Is(err, backend.ErrPermanent):
		return permanent(err)
	}
	return err
}

// warningFields are what opening the repository noticed (a password set
// for a plaintext repository), as result fields.
func (r *repo) warningFields() []Field {
	var out []Field
	for _, w := range r.Warnings() {
		out = append(out, Field{Label: "⚠️ Warning", Value: w})
	}
	return out
}

// size is the repository's size after a job that changed it, with the
// storage's size_limit, for the size metric and the size-limit incident
// (nil when the index could not tell: the job's own outcome stands).
func (r *repo) size(ctx context.Context, j *Job) *RepositorySize {
	n, err := r.RepositorySize(ctx)
	if err != nil {
		j.Logger.Warn("could not tell the repository's size after the job; its size metric lags", "storage", r.storage.Name, "err", err)
		return nil
	}
	limit, _ := config.SizeLimit(r.storage.Spec) // validated when the config was loaded
	rs := &RepositorySize{Storage: r.storage.Name, Bytes: n, Limit: limit}
	if limit > 0 {
		rs.LimitText = r.storage.Spec.SizeLimit
	}
	return rs
}

// addSize records the repository's size in a job's result, and says so
// when it is over its storage's size_limit.
func (r *repo) addSize(ctx context.Context, j *Job, res *Result) {
	rs := r.size(ctx, j)
	if rs == nil {
		return
	}
	res.Repository = rs
	if rs.Limit > 0 {
		v := fmt.Sprintf("%s of a %s limit", humanize.Bytes(rs.Bytes), rs.LimitText)
		if rs.Bytes > rs.Limit {
			v = "⚠️ " + v + ": OVER the limit"
		}
		res.Fields = append(res.Fields, Field{"Repository size", v})
	}
}
