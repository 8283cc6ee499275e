package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/repo"
)

// Open opens the repository on b. With opts.Create a missing repository is
// created (encrypted when a password is given). A wrong password gives an
// error wrapping ErrWrongPassword; opts.Encrypt on a plaintext repository
// one wrapping ErrNotEncrypted. The engine does not close b.
func Open(ctx context.Context, b backend.Backend, opts OpenOptions) (*Engine, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Encrypt && opts.Password == "" {
		return nil, fmt.Errorf("encryption needs a repository password: set BACKUPBOT_REPO_PASSWORD or BACKUPBOT_REPO_PASSWORD_FILE (or the storage's password_file): %w", ErrNotEncrypted)
	}
	r, err := repo.Open(ctx, b, opts.Password, log)
	if errors.Is(err, repo.ErrNoRepository) && opts.Create {
		log.Info("creating a repository", "location", b.Location(), "encrypted", opts.Password != "")
		r, err = repo.Init(ctx, b, repo.InitOptions{Password: opts.Password, Encrypt: opts.Password != "", Logger: log})
		if errors.Is(err, repo.ErrExists) {
			r, err = repo.Open(ctx, b, opts.Password, log) // created by someone else meanwhile
		}
	}
	switch {
	case errors.Is(err, repo.ErrWrongPassword):
		return nil, fmt.Errorf("cannot open the repository at %s: the password is wrong: %w", b.Location(), ErrWrongPassword)
	case errors.Is(err, repo.ErrPasswordRequired):
		return nil, fmt.Errorf("the repository at %s is encrypted: set BACKUPBOT_REPO_PASSWORD or BACKUPBOT_REPO_PASSWORD_FILE: %w", b.Location(), ErrWrongPassword)
	case errors.Is(err, repo.ErrNoRepository):
		return nil, fmt.Errorf("%s holds no backupbot repository (a backup creates one): %w", b.Location(), ErrNoRepository)
	case err != nil:
		return nil, fmt.Errorf("opening the repository at %s: %w", b.Location(), err)
	}
	if opts.Encrypt && !r.Encrypted() {
		_ = r.Close()
		return nil, fmt.Errorf("the repository at %s was created without encryption, so --encrypt cannot be honoured; use a new repository location with a password set: %w", b.Location(), ErrNotEncrypted)
	}
	if err := r.LoadIndex(ctx); err != nil {
		_ = r.Close()
		return nil, err
	}
	return &Engine{be: b, log: log, repo: r}, nil
}

// Close releases the engine's resources (not the backend).
func (e *Engine) Close() error { return e.repo.Close() }

// Encrypted reports whether the repository encrypts its contents.
func (e *Engine) Encrypted() bool { return e.repo.Encrypted() }

// Location names the repository's storage for humans.
func (e *Engine) Location() string { return e.be.Location() }

// Repository gives the repository to tools that inspect it (tests, analyze).
func (e *Engine) Repository() *repo.Repository { return e.repo }

// AddKey adds a password that opens the repository; it returns the key's ID.
func (e *Engine) AddKey(ctx context.Context, password string) (string, error) {
	return e.repo.AddKey(ctx, password)
}

// RemoveKey removes a key (never the one in use, nor the last one).
func (e *Engine) RemoveKey(ctx context.Context, id string) error { return e.repo.RemoveKey(ctx, id) }

// Keys lists the repository's keys.
func (e *Engine) Keys(ctx context.Context) ([]repo.KeyInfo, error) { return e.repo.Keys(ctx) }

// Locks lists the repository's locks, marking stale ones.
func (e *Engine) Locks(ctx context.Context) ([]repo.LockInfo, error) { return e.repo.Locks(ctx) }

// BreakLocks removes stale locks (all locks with all=true) and returns them.
func (e *Engine) BreakLocks(ctx context.Context, all bool) ([]repo.LockInfo, error) {
	return e.repo.BreakLocks(ctx, all)
}

func (e *Engine) unlock(ctx context.Context, l *repo.Lock) {
	if err := l.Unlock(ctx); err != nil {
		e.log.Warn("could not release the repository lock", "err", err)
	}
}
