package repo

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/storage/local"
)

// Init itself (not only Open) refuses a location that holds repository
// files without a config, and accepts key files alone only when one opens
// with its password (an interrupted or concurrent creation by the same
// operator).
func TestInitRefusesALocationWithoutConfigThatHoldsRepositoryFiles(t *testing.T) {
	ctx := context.Background()
	be, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	put := func(key, body string) {
		t.Helper()
		if err := be.Put(ctx, key, bytes.NewReader([]byte(body)), int64(len(body))); err != nil {
			t.Fatal(err)
		}
	}
	put("snapshots/0123", "x")
	put("data/01/0123", "y")
	for _, opts := range []InitOptions{{Password: "pw", Encrypt: true}, {}} {
		_, err := Init(ctx, be, opts)
		var m *ConfigMissingError
		if !errors.As(err, &m) || !errors.Is(err, ErrConfigMissing) {
			t.Fatalf("Init(encrypt=%v) over snapshots and packs: %v; want ErrConfigMissing", opts.Encrypt, err)
		}
		if m.Found != (Contents{Snapshots: 1, Packs: 1}) || !strings.Contains(err.Error(), "1 snapshot, 1 pack") {
			t.Fatalf("found %+v (%v), want 1 snapshot and 1 pack", m.Found, err)
		}
	}
	if _, err := be.Stat(ctx, configKey); err == nil {
		t.Fatal("a refused Init wrote a config")
	}

	// Key files alone: another password's are refused, one's own accepted.
	keysOnly, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r, err := Init(ctx, keysOnly, InitOptions{Password: "pw", Encrypt: true})
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Close()
	if err := keysOnly.Delete(ctx, configKey); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(ctx, keysOnly, InitOptions{Password: "other", Encrypt: true}); !errors.Is(err, ErrConfigMissing) {
		t.Fatalf("Init with another password over key files: %v; want ErrConfigMissing", err)
	}
	r, err = Init(ctx, keysOnly, InitOptions{Password: "pw", Encrypt: true})
	if err != nil {
		t.Fatalf("Init again with the password of the key file left by an interrupted creation: %v", err)
	}
	_ = r.Close()
}
