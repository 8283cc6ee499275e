package repo

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/storage/backend"
)

// Init itself (not only Open) refuses a location that holds repository
// files without a config, and accepts key files alone only when one opens
// with its password (an interrupted or concurrent creation by the same
// operator).
func TestInitRefusesALocationWithoutConfigThatHoldsRepositoryFiles(t *testing.T) {
	ctx := t.Context()
	be := newLocal(t)
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
	keysOnly := newLocal(t)
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

// RebuildConfig takes the key file whose master key opens the
// repository's own files, never a stray key file of another repository
// that happens to open with the same password.
func TestRebuildConfigTakesOnlyTheRepositorysOwnKey(t *testing.T) {
	ctx := t.Context()
	other, mine := newLocal(t), newLocal(t)
	ro, err := Init(ctx, other, InitOptions{Password: "pw", Encrypt: true})
	if err != nil {
		t.Fatal(err)
	}
	_ = ro.Close()
	r, err := Init(ctx, mine, InitOptions{Password: "pw", Encrypt: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SaveSnapshot(ctx, &Snapshot{Name: "s1", Type: "full", Paths: []string{"/x"}}); err != nil {
		t.Fatal(err)
	}
	wantID := r.Config().ID
	_ = r.Close()
	// The stray key sorts first, so it is tried first.
	strayKey := "keys/0000000000000000000000000000000000000000000000000000000000000000"
	var stray []byte
	if err := other.List(ctx, keysPrefix, func(i backend.Info) error {
		stray, err = readAll(ctx, other, i.Key)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := mine.Put(ctx, strayKey, bytes.NewReader(stray), int64(len(stray))); err != nil {
		t.Fatal(err)
	}
	if err := mine.Delete(ctx, configKey); err != nil {
		t.Fatal(err)
	}
	if _, _, err := RebuildConfig(ctx, mine, "not pw", nil); !errors.Is(err, ErrCannotRebuildConfig) {
		t.Fatalf("RebuildConfig with a wrong password: %v; want ErrCannotRebuildConfig", err)
	}
	r, key, err := RebuildConfig(ctx, mine, "pw", nil)
	if err != nil {
		t.Fatalf("RebuildConfig: %v", err)
	}
	defer r.Close()
	if key == strayKey || r.Config().ID != wantID {
		t.Fatalf("rebuilt from %s with ID %s; want the repository's own key and ID %s", key, r.Config().ID, wantID)
	}
	if _, err := Open(ctx, mine, "pw", nil); err != nil {
		t.Fatalf("Open after the rebuild: %v", err)
	}
}
