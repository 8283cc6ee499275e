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
