package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/crypto"
)

// ErrCannotRebuildConfig is wrapped by RebuildConfig when no key file both
// opens with the password and opens the repository's own files.
var ErrCannotRebuildConfig = errors.New("the config cannot be rebuilt")

// RebuildConfig writes a lost config of an encrypted repository again:
// the master key is in every key file, and everything else in config is
// fixed by the format. It takes the first key file that opens with
// password and whose master key also opens one of the repository's
// snapshot or index files (so a stray key file of another repository is
// never taken), writes config exclusively, and returns the repository
// and the key file it used. A location that has a config gets ErrExists;
// one without key files (an unencrypted repository kept its key in
// config) gets ErrCannotRebuildConfig.
func RebuildConfig(ctx context.Context, be backend.Backend, password string, log *slog.Logger) (*Repository, string, error) {
	if _, err := be.Stat(ctx, configKey); err == nil {
		return nil, "", fmt.Errorf("%s: %w", be.Location(), ErrExists)
	} else if !errors.Is(err, backend.ErrNotFound) {
		return nil, "", fmt.Errorf("checking %s for a config: %w", be.Location(), err)
	}
	var keys []string
	if err := be.List(ctx, keysPrefix, func(i backend.Info) error { keys = append(keys, i.Key); return nil }); err != nil {
		return nil, "", fmt.Errorf("listing the keys of %s: %w", be.Location(), err)
	}
	if len(keys) == 0 {
		return nil, "", fmt.Errorf("%s has no key files: it was unencrypted and its keys were in config only: %w", be.Location(), ErrCannotRebuildConfig)
	}
	opened := 0
	for _, k := range keys {
		key, err := openKey(ctx, be, k, password)
		if err != nil {
			continue
		}
		opened++
		cfg := newConfig(key, true, keyCreated(ctx, be, k))
		r, err := newRepository(be, cfg, key, log)
		if err != nil {
			return nil, "", err
		}
		if ok, err := r.opensOwnFiles(ctx); err != nil || !ok {
			_ = r.Close()
			if err != nil {
				return nil, "", err
			}
			continue
		}
		buf, err := json.MarshalIndent(cfg, "", "  ")
		if err != nil {
			_ = r.Close()
			return nil, "", err
		}
		if c, ok := be.(backend.Creator); ok {
			err = c.Create(ctx, configKey, bytes.NewReader(buf), int64(len(buf)))
			if errors.Is(err, backend.ErrExists) && !ownConfig(ctx, be, buf) {
				_ = r.Close()
				return nil, "", fmt.Errorf("%s: %w", be.Location(), ErrExists)
			} else if errors.Is(err, backend.ErrExists) {
				err = nil
			}
		} else {
			err = be.Put(ctx, configKey, bytes.NewReader(buf), int64(len(buf)))
		}
		if err != nil {
			_ = r.Close()
			return nil, "", fmt.Errorf("writing the rebuilt config to %s: %w", be.Location(), err)
		}
		r.keyID = k[len(keysPrefix):]
		return r, k, nil
	}
	if opened == 0 {
		return nil, "", fmt.Errorf("%s: no key file opens with this password (tried %d): %w", be.Location(), len(keys), ErrCannotRebuildConfig)
	}
	return nil, "", fmt.Errorf("%s: the key files that open with this password open none of the repository's snapshot or index files: %w", be.Location(), ErrCannotRebuildConfig)
}

// opensOwnFiles reports whether the repository's key opens one of its
// snapshot or index files (true when it has none to try).
func (r *Repository) opensOwnFiles(ctx context.Context) (bool, error) {
	tried := false
	for _, prefix := range []string{snapshotPrefix, indexPrefix} {
		ids, err := r.listIDs(ctx, prefix)
		if err != nil {
			return false, err
		}
		for _, id := range ids {
			tried = true
			sealed, err := readAll(ctx, r.be, prefix+id.String())
			if err != nil {
				continue
			}
			if crypto.SHA256(sealed) != id {
				continue // a damaged file proves nothing either way
			}
			if _, _, err := r.openFile(prefix+id.String(), id, sealed); err == nil {
				return true, nil
			} else if errors.Is(err, crypto.ErrAuthentication) {
				return false, nil
			}
		}
	}
	return !tried, nil
}

// keyCreated is when a key file says it was made (the repository's
// creation, for its first key), or now.
func keyCreated(ctx context.Context, be backend.Backend, name string) time.Time {
	if buf, err := readAll(ctx, be, name); err == nil {
		var kf keyFile
		if json.Unmarshal(buf, &kf) == nil && !kf.Created.IsZero() {
			return kf.Created
		}
	}
	return time.Now().UTC()
}
