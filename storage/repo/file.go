package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/crypto"
)

// File payload formats: the first plaintext byte of a sealed file.
const (
	fileJSON     byte = 0
	fileZstdJSON byte = 1
	fileBinary   byte = 2 // zstd-compressed binary (index files)
)

// ErrDamaged marks stored data that fails its checks.
var ErrDamaged = errors.New("damaged")

// sealFile compresses and seals a payload; the file's name is the SHA-256
// of the result.
func (r *Repository) sealFile(format byte, payload []byte) ([]byte, ID) {
	plain := make([]byte, 0, len(payload)/2+16)
	if format == fileJSON && len(payload) > 512 {
		format = fileZstdJSON
	}
	plain = append(plain, format)
	if format == fileJSON {
		plain = append(plain, payload...)
	} else {
		plain = r.enc.EncodeAll(payload, plain)
	}
	sealed := r.sealer.Seal(nil, plain)
	return sealed, crypto.SHA256(sealed)
}

// openFile checks a sealed file against its name and returns the payload.
func (r *Repository) openFile(key string, want ID, sealed []byte) (byte, []byte, error) {
	if crypto.SHA256(sealed) != want {
		return 0, nil, fmt.Errorf("%s: content does not match its name: %w", key, ErrDamaged)
	}
	plain, err := r.sealer.Open(nil, sealed)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w: %w", key, err, ErrDamaged)
	}
	if len(plain) == 0 {
		return 0, nil, fmt.Errorf("%s: empty: %w", key, ErrDamaged)
	}
	switch plain[0] {
	case fileJSON:
		return fileJSON, plain[1:], nil
	case fileZstdJSON, fileBinary:
		out, err := r.dec.DecodeAll(plain[1:], nil)
		if err != nil {
			return 0, nil, fmt.Errorf("%s: decompressing: %w: %w", key, err, ErrDamaged)
		}
		if plain[0] == fileZstdJSON {
			return fileJSON, out, nil
		}
		return fileBinary, out, nil
	}
	return 0, nil, fmt.Errorf("%s: unknown file format %d: %w", key, plain[0], ErrDamaged)
}

// saveJSON stores v as a sealed JSON file under prefix and returns its ID.
func (r *Repository) saveJSON(ctx context.Context, prefix string, v any) (ID, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return ID{}, err
	}
	sealed, id := r.sealFile(fileJSON, payload)
	if err := r.be.Put(ctx, prefix+id.String(), bytes.NewReader(sealed), int64(len(sealed))); err != nil {
		return ID{}, fmt.Errorf("writing %s%s: %w", prefix, id.Short(), err)
	}
	return id, nil
}

// saveJSONAs is saveJSON for a value that holds its own file's ID: it
// sets *id once the file is stored.
func (r *Repository) saveJSONAs(ctx context.Context, prefix string, v any, id *ID) error {
	saved, err := r.saveJSON(ctx, prefix, v)
	if err != nil {
		return err
	}
	*id = saved
	return nil
}

// loadFile reads, checks and opens the file prefix+id.
func (r *Repository) loadFile(ctx context.Context, prefix string, id ID) (byte, []byte, error) {
	key := prefix + id.String()
	sealed, err := readAll(ctx, r.be, key)
	if err != nil {
		return 0, nil, err
	}
	return r.openFile(key, id, sealed)
}

// loadJSON reads the file prefix+id into v.
func (r *Repository) loadJSON(ctx context.Context, prefix string, id ID, v any) error {
	format, payload, err := r.loadFile(ctx, prefix, id)
	if err != nil {
		return err
	}
	if format != fileJSON {
		return fmt.Errorf("%s%s: not a JSON file: %w", prefix, id, ErrDamaged)
	}
	if err := json.Unmarshal(payload, v); err != nil {
		return fmt.Errorf("%s%s: %w: %w", prefix, id, err, ErrDamaged)
	}
	return nil
}

// listIDs returns the IDs of the files under prefix, skipping names that
// are not IDs (a foreign file is not the repository's business).
func (r *Repository) listIDs(ctx context.Context, prefix string) ([]ID, error) {
	ids, _, err := r.listFiles(ctx, prefix)
	return ids, err
}

// listFiles is listIDs with what the listing says of each file.
func (r *Repository) listFiles(ctx context.Context, prefix string) ([]ID, []backend.Info, error) {
	var ids []ID
	var infos []backend.Info
	err := r.be.List(ctx, prefix, func(i backend.Info) error {
		id, err := crypto.ParseID(i.Key[len(prefix):])
		if err == nil {
			ids = append(ids, id)
			infos = append(infos, i)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("listing %s in %s: %w", prefix, r.be.Location(), err)
	}
	return ids, infos, nil
}
