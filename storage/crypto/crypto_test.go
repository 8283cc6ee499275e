package crypto_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/backupbot/backupbot/storage/crypto"
)

func TestSealOpenRoundTripAndTamper(t *testing.T) {
	k, err := crypto.NewRandomKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := crypto.NewSealer(k.Encrypt)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("the plaintext")
	sealed := s.Seal(nil, msg)
	if len(sealed) != len(msg)+crypto.Overhead || bytes.Contains(sealed, msg) {
		t.Fatalf("sealed message has %d bytes or shows its plaintext", len(sealed))
	}
	if again := s.Seal(nil, msg); bytes.Equal(again, sealed) {
		t.Fatal("sealing twice gave the same bytes; nonces must be random")
	}
	got, err := s.Open(nil, sealed)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 1
		if _, err := s.Open(nil, bad); !errors.Is(err, crypto.ErrAuthentication) {
			t.Fatalf("flipping byte %d: Open = %v; want ErrAuthentication", i, err)
		}
	}
	other, _ := crypto.NewRandomKey()
	os, _ := crypto.NewSealer(other.Encrypt)
	if _, err := os.Open(nil, sealed); !errors.Is(err, crypto.ErrAuthentication) {
		t.Fatalf("another key opened the message: %v", err)
	}
	inPlace, err := s.OpenInPlace(bytes.Clone(sealed))
	if err != nil || !bytes.Equal(inPlace, msg) {
		t.Fatalf("OpenInPlace = %q, %v", inPlace, err)
	}
}

func TestNilSealerIsTheIdentity(t *testing.T) {
	var s *crypto.Sealer
	if s.Encrypted() || s.Overhead() != 0 {
		t.Fatal("a nil sealer claims to encrypt")
	}
	if got := s.Seal(nil, []byte("x")); string(got) != "x" {
		t.Fatalf("nil Seal = %q", got)
	}
}

func TestKDFAndHasher(t *testing.T) {
	kdf, err := crypto.DefaultKDF()
	if err != nil {
		t.Fatal(err)
	}
	a, _ := kdf.Derive("pw")
	b, _ := kdf.Derive("pw")
	c, _ := kdf.Derive("pW")
	if !bytes.Equal(a, b) || bytes.Equal(a, c) || len(a) != crypto.KeySize {
		t.Fatal("Derive is not a deterministic function of the password")
	}
	h1, h2 := crypto.NewHasher([]byte("k1")), crypto.NewHasher([]byte("k2"))
	if h1.Sum([]byte("x")) != h1.Sum([]byte("x")) || h1.Sum([]byte("x")) == h2.Sum([]byte("x")) {
		t.Fatal("blob IDs must be equal for equal data under one key and differ across keys")
	}
	if h1.Sum([]byte("x")) == crypto.SHA256([]byte("x")) {
		t.Fatal("a blob ID equals the plain SHA-256 of its data")
	}
	id := h1.Sum([]byte("x"))
	parsed, err := crypto.ParseID(id.String())
	if err != nil || parsed != id {
		t.Fatalf("ParseID(String()) = %v, %v", parsed, err)
	}
}

// TestKeyCacheAnswersOnlyTheSamePasswordAndParameters: a worker's cache
// gives back the key scrypt gives for the same password, salt and
// parameters, and never answers another password (or another key file's
// salt) with it.
func TestKeyCacheAnswersOnlyTheSamePasswordAndParameters(t *testing.T) {
	kdf, err := crypto.DefaultKDF()
	if err != nil {
		t.Fatal(err)
	}
	want, err := kdf.Derive("right")
	if err != nil {
		t.Fatal(err)
	}
	c := crypto.NewKeyCache()
	for range 2 { // derived, then from the cache
		got, err := c.Derive(kdf, "right")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("the cache gave %x, scrypt gives %x", got, want)
		}
	}
	wrong, err := c.Derive(kdf, "wrong")
	if err != nil {
		t.Fatal(err)
	}
	other, err := crypto.DefaultKDF() // another key file: another salt
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := c.Derive(other, "right")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(wrong, want) || bytes.Equal(otherKey, want) {
		t.Fatal("the cache answered another password or salt with the cached key")
	}
	if _, err := c.Derive(crypto.KDF{N: 1, R: 1, P: 1}, "right"); err == nil {
		t.Fatal("invalid parameters were accepted")
	}
}
