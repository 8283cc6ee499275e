package repo

import (
	"crypto/subtle"
	"sync"
	"time"

	"github.com/backupbot/backupbot/storage/crypto"
)

// Cache keeps, for a long-running process that opens the same
// repositories for every job (a worker), what would otherwise be redone at
// every open:
//
//   - the key-wrapping key each key file's KDF derives from the password
//     (scrypt: about 100 ms of CPU and 16 MiB per open), keyed by the KDF's
//     parameters and salt and checked against the password;
//   - decoded snapshot and index files. Such a file's name is the hash of
//     its content, so its content never changes under one name; an entry
//     is also keyed by the size and modification time the listing reports,
//     so a file rewritten in place (damaged, truncated, replaced) is read
//     again. A deleted file is not used again, since every load still
//     lists the files (its entry stays until the cache starts afresh).
//
// A Cache is safe for concurrent use and bounded: maxWraps keys and
// maxSnapshots snapshots, beyond which it starts afresh, and index files
// up to maxIndexBlobs blob entries, beyond which no more are kept. The
// zero value is not usable: use NewCache. A nil *Cache caches nothing.
// Verify does not use one: it looks at what is stored now.
type Cache struct {
	mu    sync.Mutex
	wraps map[wrapKey]wrapEntry
	snaps map[fileKey]*Snapshot
	// indexes holds decoded index files (never modified once kept);
	// indexBlobs counts their blob entries.
	indexes    map[fileKey][]PackEntry
	indexBlobs int
}

const (
	maxWraps     = 64
	maxSnapshots = 200_000
	// maxIndexBlobs bounds the cached index files to about 30 MiB.
	maxIndexBlobs = 500_000
)

// wrapKey names one key derivation: its parameters and salt.
type wrapKey struct {
	n, r, p int
	salt    string
}

type wrapEntry struct {
	password string
	wrap     []byte
}

// fileKey names one snapshot or index file of one repository as listed.
type fileKey struct {
	repo    string
	id      ID
	size    int64
	modTime time.Time
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{wraps: map[wrapKey]wrapEntry{}, snaps: map[fileKey]*Snapshot{}, indexes: map[fileKey][]PackEntry{}}
}

// derive is kdf.Derive(password), remembered.
func (c *Cache) derive(kdf crypto.KDF, password string) ([]byte, error) {
	if c == nil {
		return kdf.Derive(password)
	}
	k := wrapKey{n: kdf.N, r: kdf.R, p: kdf.P, salt: string(kdf.Salt)}
	c.mu.Lock()
	e, ok := c.wraps[k]
	c.mu.Unlock()
	if ok && subtle.ConstantTimeCompare([]byte(e.password), []byte(password)) == 1 {
		return e.wrap, nil
	}
	wrap, err := kdf.Derive(password)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.wraps) >= maxWraps {
		clear(c.wraps)
	}
	c.wraps[k] = wrapEntry{password: password, wrap: wrap}
	c.mu.Unlock()
	return wrap, nil
}

// snapshot returns a copy of the cached snapshot k, if any.
func (c *Cache) snapshot(k fileKey) (*Snapshot, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	sn, ok := c.snaps[k]
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	cp := *sn
	return &cp, true
}

// keepSnapshot remembers a copy of sn, read from the file k.
func (c *Cache) keepSnapshot(k fileKey, sn *Snapshot) {
	if c == nil {
		return
	}
	cp := *sn
	c.mu.Lock()
	if len(c.snaps) >= maxSnapshots {
		clear(c.snaps)
	}
	c.snaps[k] = &cp
	c.mu.Unlock()
}

// index returns the cached packs of index file k, if any; the caller
// must not modify them.
func (c *Cache) index(k fileKey) ([]PackEntry, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	packs, ok := c.indexes[k]
	c.mu.Unlock()
	return packs, ok
}

// keepIndex remembers the packs read from index file k while the cache
// holds fewer than maxIndexBlobs blob entries.
func (c *Cache) keepIndex(k fileKey, packs []PackEntry) {
	if c == nil {
		return
	}
	n := 0
	for _, p := range packs {
		n += len(p.Blobs)
	}
	c.mu.Lock()
	if _, ok := c.indexes[k]; !ok && c.indexBlobs+n <= maxIndexBlobs {
		c.indexes[k] = packs
		c.indexBlobs += n
	}
	c.mu.Unlock()
}
