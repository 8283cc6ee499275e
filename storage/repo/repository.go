// Package repo implements the repository format described in FORMAT.md:
// the config and key files, sealed (encrypted and authenticated) files for
// snapshots, indexes and locks, pack files of compressed and sealed blobs,
// the in-memory index, trees and snapshots, and the locks that keep a
// deleting operation away from running backups.
package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/chunker"
	"github.com/backupbot/backupbot/storage/crypto"
)

// ID names blobs and stored files.
type ID = crypto.ID

// FormatVersion is the repository format this package writes; it reads
// every version from MinFormatVersion up to it. Version 2 added split
// trees, file kinds (FIFOs, devices, hard links, xattrs, sparse files)
// and partial snapshots; a version 1 repository reads as is.
const (
	FormatVersion    = 2
	MinFormatVersion = 1
)

// Encryption schemes a config can name.
const (
	EncryptionAESGCM = "aes-256-gcm"
	EncryptionNone   = "none"
)

// Errors callers test for with errors.Is.
var (
	ErrNoRepository     = errors.New("no repository at this location")
	ErrWrongPassword    = errors.New("wrong repository password")
	ErrPasswordRequired = errors.New("the repository is encrypted and no password was given")
	ErrExists           = errors.New("a repository already exists at this location")
	// ErrKeyDamaged is wrapped when no key file opens and at least one of
	// them could not even be read as a key file (bad JSON, bad base64, cut
	// short): the error names those files.
	ErrKeyDamaged = errors.New("damaged key file")
)

// Key prefixes in the backend.
const (
	configKey      = "config"
	keysPrefix     = "keys/"
	dataPrefix     = "data/"
	indexPrefix    = "index/"
	snapshotPrefix = "snapshots/"
	locksPrefix    = "locks/"
)

// Config is the plaintext "config" file: what the repository is and what
// in it is encrypted. In an unencrypted repository it also carries the
// (then non-secret) key material.
type Config struct {
	Version    int       `json:"version"`
	ID         string    `json:"id"`
	Created    time.Time `json:"created"`
	Encryption string    `json:"encryption"`
	// Encrypted lists what Encryption applies to.
	Encrypted   []string    `json:"encrypted"`
	KDF         string      `json:"kdf,omitempty"`
	Compression string      `json:"compression"`
	Chunker     string      `json:"chunker"`
	BlobHash    string      `json:"blob_hash"`
	PackHash    string      `json:"pack_hash"`
	PlainKey    *crypto.Key `json:"plain_key,omitempty"`
}

// keyFile is one keys/<id> file: the master key sealed with a key derived
// from one password.
type keyFile struct {
	Created time.Time  `json:"created"`
	Host    string     `json:"host"`
	KDF     crypto.KDF `json:"kdf"`
	Data    []byte     `json:"data"`
}

// Repository is an open repository.
type Repository struct {
	be      backend.Backend
	cfg     Config
	key     *crypto.Key
	sealer  *crypto.Sealer
	keyID   string
	table   *chunker.Table
	enc     *zstd.Encoder
	encFast *zstd.Encoder
	dec     *zstd.Decoder
	log     *slog.Logger
	// Index maps blob IDs to packs; LoadIndex fills it.
	Index   *Index
	hashers hasherPool
	trees   treeCache
	// cache is what OpenCached was given (nil: nothing is cached).
	cache *Cache
}

// InitOptions describe a new repository.
type InitOptions struct {
	// Password wraps the master key; with Encrypt it must be set.
	Password string
	Encrypt  bool
	Logger   *slog.Logger
}

// Init creates a repository on an empty backend location.
func Init(ctx context.Context, be backend.Backend, opts InitOptions) (*Repository, error) {
	if _, err := be.Stat(ctx, configKey); err == nil {
		return nil, fmt.Errorf("%s: %w", be.Location(), ErrExists)
	} else if !errors.Is(err, backend.ErrNotFound) {
		return nil, fmt.Errorf("checking %s for a repository: %w", be.Location(), err)
	}
	if opts.Encrypt && opts.Password == "" {
		return nil, fmt.Errorf("creating an encrypted repository needs a password (set BACKUPBOT_REPO_PASSWORD or BACKUPBOT_REPO_PASSWORD_FILE): %w", ErrPasswordRequired)
	}
	// Never a repository over a repository: index files, snapshots or
	// packs without a config mean the config was lost, not that the
	// location is free.
	pw := ""
	if opts.Encrypt {
		pw = opts.Password
	}
	if err := checkNoOrphans(ctx, be, pw); err != nil {
		return nil, err
	}
	key, err := crypto.NewRandomKey()
	if err != nil {
		return nil, err
	}
	cfg := newConfig(key, opts.Encrypt, time.Now().UTC())
	r, err := newRepository(be, cfg, key, opts.Logger)
	if err != nil {
		return nil, err
	}
	if opts.Encrypt {
		if _, err := r.AddKey(ctx, opts.Password); err != nil {
			return nil, err
		}
	}
	buf, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	// The config goes last: a location with key files but no config is
	// not a repository yet, and Init can run again. Where the backend can
	// create exclusively, of two concurrent Inits exactly one config lands;
	// the loser removes its key file and reports ErrExists, and Open skips
	// key files whose master key does not match the config anyway.
	if c, ok := be.(backend.Creator); ok {
		err = c.Create(ctx, configKey, bytes.NewReader(buf), int64(len(buf)))
		if errors.Is(err, backend.ErrExists) && ownConfig(ctx, be, buf) {
			// Our own create landed and its answer was lost; a retry
			// then found the config it had written.
			err = nil
		} else if errors.Is(err, backend.ErrExists) {
			if r.keyID != "" {
				_ = be.Delete(ctx, keysPrefix+r.keyID)
			}
			return nil, fmt.Errorf("%s: %w", be.Location(), ErrExists)
		}
	} else {
		err = be.Put(ctx, configKey, bytes.NewReader(buf), int64(len(buf)))
	}
	if err != nil {
		return nil, fmt.Errorf("writing the repository config to %s: %w", be.Location(), err)
	}
	return r, nil
}

// newConfig is the config of a repository with master key key: all but
// its ID and creation time is fixed by the format.
func newConfig(key *crypto.Key, encrypt bool, created time.Time) Config {
	cfg := Config{
		Version: FormatVersion, ID: repoIDOf(key), Created: created,
		Encryption: EncryptionNone, Compression: "zstd", Chunker: "fastcdc-keyed-gear 512KiB/1MiB/8MiB",
		BlobHash: "hmac-sha256", PackHash: "sha256",
	}
	if encrypt {
		cfg.Encryption = EncryptionAESGCM
		cfg.Encrypted = []string{"data", "index", "snapshots", "locks", "keys"}
		cfg.KDF = "scrypt"
	} else {
		cfg.PlainKey = key
	}
	return cfg
}

// ownConfig reports whether the config at be is exactly buf.
func ownConfig(ctx context.Context, be backend.Backend, buf []byte) bool {
	got, err := readAll(ctx, be, configKey)
	return err == nil && bytes.Equal(got, buf)
}

// Open opens the repository on be. An encrypted repository needs a
// password that opens one of its keys.
func Open(ctx context.Context, be backend.Backend, password string, log *slog.Logger) (*Repository, error) {
	return OpenCached(ctx, be, password, log, nil)
}

// OpenCached is Open with a Cache shared by every open of a long-running
// process: the key derivation and the snapshot files already read are
// not redone. A nil c is Open.
func OpenCached(ctx context.Context, be backend.Backend, password string, log *slog.Logger, c *Cache) (*Repository, error) {
	rc, err := be.Get(ctx, configKey, 0, -1)
	if errors.Is(err, backend.ErrNotFound) {
		c, perr := Probe(ctx, be)
		if perr != nil {
			return nil, perr
		}
		if c.Data() {
			return nil, &ConfigMissingError{Location: be.Location(), Found: c, Encrypted: c.Keys > 0}
		}
		return nil, fmt.Errorf("%s: %w", be.Location(), ErrNoRepository)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the repository config from %s: %w", be.Location(), err)
	}
	buf, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the repository config from %s: %w", be.Location(), err)
	}
	var cfg Config
	if err := json.Unmarshal(buf, &cfg); err != nil {
		return nil, fmt.Errorf("the repository config at %s is damaged: %w", be.Location(), err)
	}
	if cfg.Version < MinFormatVersion || cfg.Version > FormatVersion {
		return nil, fmt.Errorf("the repository at %s has format version %d; this backupbot reads versions %d to %d", be.Location(), cfg.Version, MinFormatVersion, FormatVersion)
	}
	switch cfg.Encryption {
	case EncryptionNone:
		if !cfg.PlainKey.Valid() {
			return nil, fmt.Errorf("the repository config at %s has no valid key", be.Location())
		}
		r, err := newRepository(be, cfg, cfg.PlainKey, log)
		if err != nil {
			return nil, err
		}
		r.cache = c
		return r, nil
	case EncryptionAESGCM:
	default:
		return nil, fmt.Errorf("the repository at %s uses unknown encryption %q", be.Location(), cfg.Encryption)
	}
	if password == "" {
		return nil, fmt.Errorf("%s: %w (set BACKUPBOT_REPO_PASSWORD or BACKUPBOT_REPO_PASSWORD_FILE)", be.Location(), ErrPasswordRequired)
	}
	var keys []string
	if err := be.List(ctx, keysPrefix, func(i backend.Info) error {
		keys = append(keys, i.Key)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("listing the keys of %s: %w", be.Location(), err)
	}
	var damaged []string
	for _, k := range keys {
		key, err := openKeyCached(ctx, be, k, password, c)
		if errors.Is(err, crypto.ErrAuthentication) {
			continue
		}
		if errors.Is(err, ErrKeyDamaged) {
			// Another key file may still open: note this one and go on.
			damaged = append(damaged, err.Error())
			continue
		}
		if err != nil {
			return nil, err
		}
		if repoIDOf(key) != cfg.ID {
			// A key file left by a creator that lost the race to write
			// config wraps another master key: it opens, but is not ours.
			if log != nil {
				log.Warn("ignoring a key file that belongs to no repository here", "key", k)
			}
			continue
		}
		r, err := newRepository(be, cfg, key, log)
		if err != nil {
			return nil, err
		}
		r.keyID = k[len(keysPrefix):]
		r.cache = c
		for _, d := range damaged {
			r.log.Warn("the repository opened with another key, but a key file is damaged; remove it or restore it from a copy", "damage", d)
		}
		return r, nil
	}
	switch {
	case len(keys) == 0:
		return nil, fmt.Errorf("%s: the repository is encrypted but has no key files (keys/ is empty): no password can open it; restore keys/ from a copy: %w", be.Location(), ErrKeyDamaged)
	case len(damaged) == len(keys):
		return nil, fmt.Errorf("%s: every key file is damaged (%s); restore keys/ from a copy: %w", be.Location(), strings.Join(damaged, "; "), ErrKeyDamaged)
	case len(damaged) > 0:
		return nil, fmt.Errorf("%s: no key file opens with this password (tried %d); besides, %s: %w", be.Location(), len(keys)-len(damaged), strings.Join(damaged, "; "), ErrWrongPassword)
	}
	return nil, fmt.Errorf("%s: no key file opens with this password (tried %d): %w", be.Location(), len(keys), ErrWrongPassword)
}

// sealedKeySize is the size of a key file's sealed master key: every
// field of crypto.Key has a fixed length.
var sealedKeySize = func() int {
	b, _ := json.Marshal(crypto.Key{Encrypt: make([]byte, crypto.KeySize), Hash: make([]byte, crypto.KeySize), Chunker: make([]byte, crypto.KeySize)})
	return len(b) + crypto.Overhead
}()

// openKey opens one key file with password. A file that is not a key file
// any more (bad JSON or base64, cut short, impossible parameters) gives an
// error wrapping ErrKeyDamaged that names it; a wrong password (or a
// flipped byte in the sealed key, which is indistinguishable) one wrapping
// crypto.ErrAuthentication.
func openKey(ctx context.Context, be backend.Backend, name, password string) (*crypto.Key, error) {
	return openKeyCached(ctx, be, name, password, nil)
}

// openKeyCached is openKey taking the derived key-wrapping key from c.
func openKeyCached(ctx context.Context, be backend.Backend, name, password string, c *Cache) (*crypto.Key, error) {
	buf, err := readAll(ctx, be, name)
	if err != nil {
		return nil, err
	}
	var kf keyFile
	if err := json.Unmarshal(buf, &kf); err != nil {
		return nil, keyDamaged(name, err.Error())
	}
	if len(kf.Data) != sealedKeySize {
		return nil, keyDamaged(name, fmt.Sprintf("its sealed key is %d bytes, want %d", len(kf.Data), sealedKeySize))
	}
	if kf.KDF.N > 1<<20 || kf.KDF.R > 64 || kf.KDF.P > 64 {
		// Parameters no backupbot writes, that would take gigabytes to try.
		return nil, keyDamaged(name, fmt.Sprintf("impossible key derivation parameters N=%d r=%d p=%d", kf.KDF.N, kf.KDF.R, kf.KDF.P))
	}
	wrap, err := c.derive(kf.KDF, password)
	if err != nil {
		return nil, keyDamaged(name, err.Error())
	}
	s, err := crypto.NewSealer(wrap)
	if err != nil {
		return nil, err
	}
	plain, err := s.Open(nil, kf.Data)
	if err != nil {
		return nil, err
	}
	var key crypto.Key
	if err := json.Unmarshal(plain, &key); err != nil || !key.Valid() {
		return nil, keyDamaged(name, "it holds no valid key")
	}
	return &key, nil
}

// keyDamageError names a damaged key file and why; it wraps ErrKeyDamaged.
type keyDamageError struct{ name, why string }

func keyDamaged(name, why string) error { return &keyDamageError{name, why} }

func (e *keyDamageError) Error() string {
	return fmt.Sprintf("key file %s is damaged (%s)", e.name, e.why)
}
func (e *keyDamageError) Unwrap() error { return ErrKeyDamaged }

func newRepository(be backend.Backend, cfg Config, key *crypto.Key, log *slog.Logger) (*Repository, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Repository{be: be, cfg: cfg, key: key, log: log, table: chunker.NewTable(key.Chunker), Index: NewIndex(),
		hashers: hasherPool{key: key.Hash}}
	if cfg.Encryption == EncryptionAESGCM {
		s, err := crypto.NewSealer(key.Encrypt)
		if err != nil {
			return nil, err
		}
		r.sealer = s
	}
	var err error
	r.enc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithEncoderCRC(false), zstd.WithLowerEncoderMem(true),
		zstd.WithWindowSize(2<<20))
	if err != nil {
		return nil, err
	}
	r.encFast, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithEncoderCRC(false), zstd.WithLowerEncoderMem(true),
		zstd.WithWindowSize(2<<20))
	if err != nil {
		return nil, err
	}
	r.dec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithDecoderMaxMemory(MaxBlobSize))
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Close releases the compressor's resources.
func (r *Repository) Close() error {
	r.enc.Close()
	r.encFast.Close()
	r.dec.Close()
	return nil
}

// Backend returns the backend the repository is stored on.
func (r *Repository) Backend() backend.Backend { return r.be }

// Config returns the repository's config.
func (r *Repository) Config() Config {
	c := r.cfg
	c.PlainKey = nil
	return c
}

// Encrypted reports whether the repository encrypts its contents.
func (r *Repository) Encrypted() bool { return r.sealer.Encrypted() }

// ChunkerTable returns the repository's keyed chunker table.
func (r *Repository) ChunkerTable() *chunker.Table { return r.table }

// NewHasher returns a blob hasher under the repository's hash key.
func (r *Repository) NewHasher() *crypto.Hasher { return crypto.NewHasher(r.key.Hash) }

// Sealer returns the repository's sealer (nil for an unencrypted one).
func (r *Repository) Sealer() *crypto.Sealer { return r.sealer }

// KeyInfo describes one key file.
type KeyInfo struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Host    string    `json:"host"`
	Current bool      `json:"current"`
}

// AddKey adds a key file that opens the repository with password and
// returns its ID.
func (r *Repository) AddKey(ctx context.Context, password string) (string, error) {
	if !r.Encrypted() {
		return "", errors.New("the repository is not encrypted; it has no passwords to add")
	}
	if password == "" {
		return "", errors.New("a key needs a non-empty password")
	}
	kdf, err := crypto.DefaultKDF()
	if err != nil {
		return "", err
	}
	wrap, err := kdf.Derive(password)
	if err != nil {
		return "", err
	}
	s, err := crypto.NewSealer(wrap)
	if err != nil {
		return "", err
	}
	plain, err := json.Marshal(r.key)
	if err != nil {
		return "", err
	}
	host, _ := os.Hostname()
	kf := keyFile{Created: time.Now().UTC(), Host: host, KDF: kdf, Data: s.Seal(nil, plain)}
	buf, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return "", err
	}
	id := crypto.SHA256(buf).String()
	if err := r.be.Put(ctx, keysPrefix+id, bytes.NewReader(buf), int64(len(buf))); err != nil {
		return "", fmt.Errorf("writing a key file: %w", err)
	}
	if r.keyID == "" {
		r.keyID = id
	}
	return id, nil
}

// Keys lists the key files.
func (r *Repository) Keys(ctx context.Context) ([]KeyInfo, error) {
	var out []KeyInfo
	err := r.be.List(ctx, keysPrefix, func(i backend.Info) error {
		buf, err := readAll(ctx, r.be, i.Key)
		if err != nil {
			return err
		}
		var kf keyFile
		if err := json.Unmarshal(buf, &kf); err != nil {
			return fmt.Errorf("key file %s is damaged: %w", i.Key, err)
		}
		id := i.Key[len(keysPrefix):]
		out = append(out, KeyInfo{ID: id, Created: kf.Created, Host: kf.Host, Current: id == r.keyID})
		return nil
	})
	return out, err
}

// RemoveKey deletes a key file. The key this repository was opened with,
// and the last key, cannot be removed.
func (r *Repository) RemoveKey(ctx context.Context, id string) error {
	if id == r.keyID {
		return errors.New("refusing to remove the key in use; open the repository with another password first")
	}
	keys, err := r.Keys(ctx)
	if err != nil {
		return err
	}
	if len(keys) <= 1 {
		return errors.New("refusing to remove the last key: the repository could never be opened again")
	}
	return r.be.Delete(ctx, keysPrefix+id)
}

func readAll(ctx context.Context, be backend.Backend, key string) ([]byte, error) {
	rc, err := be.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	buf, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", key, err)
	}
	return buf, nil
}

// repoIDOf is the repository ID a master key belongs to: the start of the
// SHA-256 of its hash key. Config records it, so a key file can be matched
// to its repository.
func repoIDOf(key *crypto.Key) string { return crypto.SHA256(key.Hash).String()[:16] }
