package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/repo"
)

// ErrPasswordRequired is returned (wrapped) by Open when a new repository
// would be created without a password and the storage is not configured
// with `encryption: none`: no repository is plaintext by accident.
var ErrPasswordRequired = errors.New("a new repository needs a password")

// ErrConfigMissing is returned (wrapped) by Open when the location has no
// config file but holds key files, index files, snapshots or packs: the
// repository's config was deleted or lost. Open never creates a repository
// over it; the message says what was found and how to recover.
var ErrConfigMissing = repo.ErrConfigMissing

// ErrKeyDamaged is returned (wrapped) by Open when no key file opens and
// some are damaged (not a wrong password): the message names them.
var ErrKeyDamaged = repo.ErrKeyDamaged

// passwordHint names where a repository password comes from.
const passwordHint = "set BACKUPBOT_REPO_PASSWORD or BACKUPBOT_REPO_PASSWORD_FILE (or the storage's password_file)"

// Open opens the repository on b. With opts.Create a missing repository is
// created: encrypted with opts.Password, or unencrypted when opts.Plaintext
// says the storage is configured so; with neither it is refused
// (ErrPasswordRequired). A location whose config is missing but that holds
// repository files is never created over (ErrConfigMissing). A wrong
// password gives an error wrapping ErrWrongPassword, damaged key files one
// wrapping ErrKeyDamaged; opts.Encrypt on a plaintext repository one
// wrapping ErrNotEncrypted. The engine does not close b.
func Open(ctx context.Context, b backend.Backend, opts OpenOptions) (*Engine, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Encrypt && opts.Plaintext {
		return nil, fmt.Errorf("--encrypt asked for, but the storage is configured with encryption: none; remove that key (and set a password) or drop --encrypt: %w", ErrNotEncrypted)
	}
	if opts.Encrypt && opts.Password == "" {
		return nil, fmt.Errorf("encryption needs a repository password (%s): %w", passwordHint, ErrNotEncrypted)
	}
	r, err := repo.OpenCached(ctx, b, opts.Password, log, opts.Cache)
	if errors.Is(err, repo.ErrNoRepository) && opts.Create {
		encrypt := !opts.Plaintext
		if encrypt && opts.Password == "" {
			return nil, fmt.Errorf("%s holds no repository yet, and a new one is encrypted and needs a password (%s); "+
				"for an unencrypted repository say encryption: none on the storage in the config: %w", b.Location(), passwordHint, ErrPasswordRequired)
		}
		log.Info("creating a repository", "location", b.Location(), "encrypted", encrypt)
		r, err = repo.Init(ctx, b, repo.InitOptions{Password: opts.Password, Encrypt: encrypt, Logger: log})
		if errors.Is(err, repo.ErrExists) {
			r, err = repo.OpenCached(ctx, b, opts.Password, log, opts.Cache) // created by someone else meanwhile
		}
	}
	var missing *repo.ConfigMissingError
	var rebuilt string
	if errors.As(err, &missing) && opts.RebuildConfig && missing.Encrypted && opts.Password != "" {
		var key string
		if r, key, err = repo.RebuildConfig(ctx, b, opts.Password, log); err == nil {
			rebuilt = fmt.Sprintf("the repository's config file was missing; rebuilt it from key file %s, which opens with this password and opens the repository's files", key)
			log.Info(rebuilt)
		} else if !errors.Is(err, repo.ErrExists) {
			return nil, fmt.Errorf("verify --fix could not rebuild the missing config of %s: %w. %s: %w", b.Location(), err, copyAdvice, ErrConfigMissing)
		} else {
			r, err = repo.OpenCached(ctx, b, opts.Password, log, opts.Cache) // someone put config back meanwhile
		}
	}
	switch {
	case errors.As(err, &missing):
		return nil, configMissing(missing, opts.Create)
	case errors.Is(err, repo.ErrKeyDamaged):
		return nil, fmt.Errorf("cannot open the repository: %w", err)
	case errors.Is(err, repo.ErrWrongPassword):
		return nil, alsoIs{fmt.Errorf("cannot open the repository: %w", err), ErrWrongPassword}
	case errors.Is(err, repo.ErrPasswordRequired):
		return nil, fmt.Errorf("the repository at %s is encrypted: %s: %w", b.Location(), passwordHint, ErrWrongPassword)
	case errors.Is(err, repo.ErrNoRepository):
		return nil, fmt.Errorf("%s holds no backupbot repository (a backup creates one): %w", b.Location(), ErrNoRepository)
	case err != nil:
		return nil, fmt.Errorf("opening the repository at %s: %w", b.Location(), err)
	}
	if opts.Encrypt && !r.Encrypted() {
		_ = r.Close()
		return nil, fmt.Errorf("the repository at %s was created without encryption, so --encrypt cannot be honoured; use a new repository location with a password set: %w", b.Location(), ErrNotEncrypted)
	}
	e := &Engine{be: b, log: log, repo: r}
	if rebuilt != "" {
		e.warnings = append(e.warnings, rebuilt)
	}
	if !r.Encrypted() && opts.Password != "" {
		w := fmt.Sprintf("the repository at %s is NOT encrypted although a password is set: it was created without one, and a password does not encrypt it afterwards; "+
			"to encrypt, back up into a new location with the password set (--encrypt is refused here)", b.Location())
		log.Info(w) // a warning in every result; backupctl prints it
		e.warnings = append(e.warnings, w)
	}
	if opts.DeferIndex {
		return e, nil
	}
	if err := r.LoadIndex(ctx); err != nil {
		_ = r.Close()
		return nil, err
	}
	return e, nil
}

// alsoIs is err that also matches a sentinel, with err's message.
type alsoIs struct{ err, sentinel error }

func (e alsoIs) Error() string   { return e.err.Error() }
func (e alsoIs) Unwrap() []error { return []error{e.err, e.sentinel} }

// configMissing words a ConfigMissingError for people: what was found,
// that nothing was written, and how to get the repository back.
func configMissing(m *repo.ConfigMissingError, create bool) error {
	what := "cannot open the repository: " + m.Error()
	if create {
		what = "refusing to create a repository: " + m.Error() + ". A new repository here would have a new master key and put every existing backup out of reach; nothing was written"
	}
	return fmt.Errorf("%s. %s: %w", what, ConfigRecoveryAdvice(m.Encrypted), ErrConfigMissing)
}

// copyAdvice is the recovery that always works: config from a copy.
const copyAdvice = "To recover, put the file `config` back at the repository's top level from a copy (another copy of this storage, " +
	"an earlier version of the bucket or container object, a file-system snapshot or backup of the directory) and run the command again"

// ConfigRecoveryAdvice says how to get a repository whose config file is
// missing back (encrypted: it has key files).
func ConfigRecoveryAdvice(encrypted bool) string {
	advice := copyAdvice
	if encrypted {
		return advice + "; or run `verify --fix` with the repository password: it rebuilds `config` from a key file that opens with it (the master key is in the key files)"
	}
	return advice + "; this repository has no key files, so it was unencrypted and its keys lived in `config` only: without a copy of it the backups cannot be read"
}

// Warnings are what opening noticed that a result should say (a password
// set for a plaintext repository).
func (e *Engine) Warnings() []string { return e.warnings }

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

// lockIndexed takes a shared lock for op (a lock of job when job is set,
// see repo.LockJob) and loads the index; release the lock with unlock.
func (e *Engine) lockIndexed(ctx context.Context, op, job string) (*repo.Lock, error) {
	lock, err := e.repo.LockJob(ctx, false, op, job)
	if err != nil {
		return nil, err
	}
	if err := e.repo.LoadIndex(ctx); err != nil {
		e.unlock(ctx, lock)
		return nil, err
	}
	return lock, nil
}

func (e *Engine) unlock(ctx context.Context, l *repo.Lock) {
	if err := l.Unlock(ctx); err != nil {
		e.log.Warn("could not release the repository lock", "err", err)
	}
}
