// Package crypto holds the repository's cryptography: the random master key
// (an AES-256-GCM key, a chunk-ID hashing key and the chunker's secret seed),
// authenticated encryption of blobs and files, the keyed hash that names
// chunks, and the password-derived keys (scrypt) that wrap the master key.
package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"

	"golang.org/x/crypto/scrypt"
)

// KeySize is the size of every key in bytes.
const KeySize = 32

// NonceSize and Overhead describe a sealed message: nonce, ciphertext, tag.
const (
	NonceSize = 12
	Overhead  = NonceSize + 16
)

// ErrAuthentication means a sealed message was damaged or sealed with
// another key.
var ErrAuthentication = errors.New("ciphertext verification failed (data damaged or wrong key)")

// Key is a repository's master key material. It is generated once, when the
// repository is created, and stored only wrapped by password-derived keys
// (or, in an unencrypted repository, in plaintext in the config).
type Key struct {
	// Encrypt is the AES-256-GCM key for blobs, packs headers and files.
	Encrypt []byte `json:"encrypt"`
	// Hash keys the HMAC-SHA256 that names chunks and trees.
	Hash []byte `json:"hash"`
	// Chunker seeds the content-defined chunker's gear table.
	Chunker []byte `json:"chunker"`
}

// NewRandomKey returns fresh master key material.
func NewRandomKey() (*Key, error) {
	k := &Key{Encrypt: make([]byte, KeySize), Hash: make([]byte, KeySize), Chunker: make([]byte, KeySize)}
	for _, b := range [][]byte{k.Encrypt, k.Hash, k.Chunker} {
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("generating a key: %w", err)
		}
	}
	return k, nil
}

// Valid reports whether every part of the key has the right size.
func (k *Key) Valid() bool {
	return k != nil && len(k.Encrypt) == KeySize && len(k.Hash) == KeySize && len(k.Chunker) == KeySize
}

// Sealer encrypts and authenticates messages with AES-256-GCM under a
// random nonce. A nil *Sealer is the identity (an unencrypted repository).
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a Sealer for a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("encryption key has %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Encrypted reports whether s really encrypts.
func (s *Sealer) Encrypted() bool { return s != nil }

// Overhead is the number of bytes Seal adds.
func (s *Sealer) Overhead() int {
	if s == nil {
		return 0
	}
	return Overhead
}

// Seal appends nonce || ciphertext || tag of plaintext to dst.
func (s *Sealer) Seal(dst, plaintext []byte) []byte {
	if s == nil {
		return append(dst, plaintext...)
	}
	n := len(dst)
	dst = append(dst, make([]byte, NonceSize)...)
	nonce := dst[n : n+NonceSize]
	if _, err := rand.Read(nonce); err != nil {
		// crypto/rand never fails on supported platforms (it panics itself).
		panic(err)
	}
	return s.aead.Seal(dst, nonce, plaintext, nil)
}

// Open appends the plaintext of a sealed message to dst, or fails with an
// error wrapping ErrAuthentication.
func (s *Sealer) Open(dst, sealed []byte) ([]byte, error) {
	if s == nil {
		return append(dst, sealed...), nil
	}
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("sealed message of %d bytes is too short: %w", len(sealed), ErrAuthentication)
	}
	out, err := s.aead.Open(dst, sealed[:NonceSize], sealed[NonceSize:], nil)
	if err != nil {
		return nil, ErrAuthentication
	}
	return out, nil
}

// ID is a 32-byte identifier: a keyed hash of a blob's plaintext, or the
// SHA-256 of a stored file's bytes.
type ID [32]byte

// Hasher computes blob IDs with HMAC-SHA256 under the repository's hash
// key, so equal plaintexts get equal IDs while the IDs reveal nothing to
// someone without the key. A Hasher is not safe for concurrent use.
type Hasher struct {
	mac hash.Hash
}

// NewHasher returns a Hasher for key.
func NewHasher(key []byte) *Hasher {
	return &Hasher{mac: hmac.New(sha256.New, key)}
}

// Sum returns the ID of data.
func (h *Hasher) Sum(data []byte) ID {
	h.mac.Reset()
	h.mac.Write(data)
	var id ID
	h.mac.Sum(id[:0])
	return id
}

// KDF holds scrypt's parameters and salt.
type KDF struct {
	N    int    `json:"n"`
	R    int    `json:"r"`
	P    int    `json:"p"`
	Salt []byte `json:"salt"`
}

// DefaultKDF returns parameters with a fresh salt: about 50-100 ms and
// 16 MiB per derivation on current hardware (N=2^14 twice, p=2, costs the
// CPU time of N=2^15 with half the memory).
func DefaultKDF() (KDF, error) {
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return KDF{}, err
	}
	return KDF{N: 1 << 14, R: 8, P: 2, Salt: salt}, nil
}

// Derive turns a password into a 32-byte key-wrapping key.
func (k KDF) Derive(password string) ([]byte, error) {
	if k.N < 2 || k.R < 1 || k.P < 1 || len(k.Salt) < 16 {
		return nil, fmt.Errorf("invalid key derivation parameters N=%d r=%d p=%d salt=%d bytes", k.N, k.R, k.P, len(k.Salt))
	}
	return scrypt.Key([]byte(password), k.Salt, k.N, k.R, k.P, KeySize)
}

// String returns the ID in lowercase hex.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 8 hex digits, for display.
func (id ID) Short() string { return hex.EncodeToString(id[:4]) }

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool { return id == ID{} }

// MarshalText encodes the ID as hex (for JSON).
func (id ID) MarshalText() ([]byte, error) { return hex.AppendEncode(nil, id[:]), nil }

// UnmarshalText decodes a hex ID.
func (id *ID) UnmarshalText(b []byte) error {
	parsed, err := ParseID(string(b))
	if err == nil {
		*id = parsed
	}
	return err
}

// ParseID decodes a 64-digit hex ID.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != hex.EncodedLen(len(id)) {
		return id, fmt.Errorf("invalid ID %q: want %d hex digits", s, hex.EncodedLen(len(id)))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("invalid ID %q: %w", s, err)
	}
	return id, nil
}

// SHA256 returns the plain SHA-256 of data, which names stored files.
func SHA256(data []byte) ID { return sha256.Sum256(data) }

// OpenInPlace is Open that decrypts into sealed's own memory and returns
// the plaintext slice of it.
func (s *Sealer) OpenInPlace(sealed []byte) ([]byte, error) {
	if s == nil {
		return sealed, nil
	}
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("sealed message of %d bytes is too short: %w", len(sealed), ErrAuthentication)
	}
	ct := sealed[NonceSize:]
	out, err := s.aead.Open(ct[:0], sealed[:NonceSize], ct, nil)
	if err != nil {
		return nil, ErrAuthentication
	}
	return out, nil
}
