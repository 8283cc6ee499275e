package enginetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/engine"
)

// listing maps every object of b to the SHA-256 of its bytes.
func listing(t *testing.T, b backend.Backend) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	err := b.List(context.Background(), "", func(i backend.Info) error {
		out[i.Key] = sha256.Sum256(get(t, b, i.Key))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func configID(t *testing.T, config []byte) string {
	t.Helper()
	var c struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(config, &c); err != nil || c.ID == "" {
		t.Fatalf("config %s: %v", config, err)
	}
	return c.ID
}

func objectCount(t *testing.T, b backend.Backend) int { return len(listing(t, b)) }

func get(t *testing.T, b backend.Backend, key string) []byte {
	t.Helper()
	rc, err := b.Get(context.Background(), key, 0, -1)
	if err != nil {
		t.Fatalf("Get %s: %v", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get %s: %v", key, err)
	}
	return data
}

func put(t *testing.T, b backend.Backend, key string, data []byte) {
	t.Helper()
	if err := b.Put(context.Background(), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put %s: %v", key, err)
	}
}

// configMissing: with the config deleted, creating a repository (with the
// same password, another one, or unencrypted) refuses, says what it found
// and writes nothing; opening says the same instead of "no repository";
// putting config back brings every backup back.
func (s *suite) configMissing(t *testing.T) {
	ctx := context.Background()
	b := s.backend(t)
	e := open(t, b, Password)
	src := filepath.Join(t.TempDir(), "src")
	write(t, filepath.Join(src, "a.txt"), []byte("the old backups must stay reachable"), 0o644)
	write(t, filepath.Join(src, "b.bin"), randomBytes(7, 1<<20), 0o644)
	res := backup(t, e, engine.BackupRequest{Paths: []string{src}})
	_ = e.Close()

	config := get(t, b, "config")
	if err := b.Delete(ctx, "config"); err != nil {
		t.Fatal(err)
	}
	before := listing(t, b)

	for _, o := range []struct {
		name string
		opts engine.OpenOptions
	}{
		{"create with the same password", engine.OpenOptions{Password: Password, Create: true}},
		{"create with another password", engine.OpenOptions{Password: "another password", Create: true}},
		{"create unencrypted", engine.OpenOptions{Plaintext: true, Create: true}},
		{"open", engine.OpenOptions{Password: Password}},
	} {
		_, err := engine.Open(ctx, b, o.opts)
		if !errors.Is(err, engine.ErrConfigMissing) {
			t.Fatalf("%s over a repository without config: %v; want ErrConfigMissing", o.name, err)
		}
		msg := err.Error()
		for _, want := range []string{"1 key file", "1 index file", "1 snapshot", "pack", "no config file", "put the file `config` back"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: the message does not say %q: %s", o.name, want, msg)
			}
		}
		if o.opts.Create && !strings.Contains(msg, "nothing was written") {
			t.Errorf("%s: the message does not say that nothing was written: %s", o.name, msg)
		}
	}
	if after := listing(t, b); !maps.Equal(before, after) {
		t.Fatalf("the refused creations changed the repository:\nbefore %v\nafter  %v", slices.Sorted(maps.Keys(before)), slices.Sorted(maps.Keys(after)))
	}

	// verify --fix with a password that opens no key rebuilds nothing.
	if _, err := engine.Open(ctx, b, engine.OpenOptions{Password: "another password", RebuildConfig: true}); !errors.Is(err, engine.ErrConfigMissing) {
		t.Fatalf("rebuilding config with a wrong password: %v; want ErrConfigMissing", err)
	}
	if after := listing(t, b); !maps.Equal(before, after) {
		t.Fatal("a failed config rebuild changed the repository")
	}
	// verify --fix with the password rebuilds config from the key file:
	// the same repository (same ID), every backup restores.
	re, err := engine.Open(ctx, b, engine.OpenOptions{Password: Password, RebuildConfig: true})
	if err != nil {
		t.Fatalf("rebuilding config with the password: %v", err)
	}
	if w := re.Warnings(); len(w) != 1 || !strings.Contains(w[0], "rebuilt") {
		t.Errorf("the rebuild is not reported: %q", w)
	}
	if re.Repository().Config().ID != configID(t, config) || !re.Encrypted() {
		t.Errorf("rebuilt config %+v is not the lost one's repository (%s)", re.Repository().Config(), config)
	}
	out := t.TempDir()
	restore(t, re, engine.RestoreRequest{Snapshot: res.Snapshot.ID, To: out})
	if got, err := os.ReadFile(filepath.Join(out, src, "a.txt")); err != nil || string(got) != "the old backups must stay reachable" {
		t.Fatalf("after rebuilding config, restore gave %q, %v", got, err)
	}
	_ = re.Close()

	// The other recovery the message gives: put config back from a copy.
	if err := b.Delete(ctx, "config"); err != nil {
		t.Fatal(err)
	}
	put(t, b, "config", config)
	e2 := open(t, b, Password)
	out = t.TempDir()
	restore(t, e2, engine.RestoreRequest{Snapshot: res.Snapshot.ID, To: out})
	if got, err := os.ReadFile(filepath.Join(out, src, "a.txt")); err != nil || string(got) != "the old backups must stay reachable" {
		t.Fatalf("after putting config back, restore gave %q, %v", got, err)
	}
	verifyClean(t, e2)
}

// keyDamage: a wrong password says no key file opens with it; a damaged
// key file (bad JSON, bad base64, cut short) is named as damaged, not
// reported as a wrong password; another intact key still opens.
func (s *suite) keyDamage(t *testing.T) {
	ctx := context.Background()
	b := s.backend(t)
	e := open(t, b, Password)
	_ = e.Close()
	var keys []string
	if err := b.List(ctx, "keys/", func(i backend.Info) error { keys = append(keys, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		t.Fatalf("a new repository has %d key files, want 1", len(keys))
	}
	key := keys[0]
	good := get(t, b, key)

	_, err := engine.Open(ctx, b, engine.OpenOptions{Password: "not the password"})
	if !errors.Is(err, engine.ErrWrongPassword) || errors.Is(err, engine.ErrKeyDamaged) || !strings.Contains(err.Error(), "no key file opens with this password") {
		t.Fatalf("a wrong password: %v; want ErrWrongPassword saying no key file opens with this password", err)
	}

	i := bytes.Index(good, []byte(`"data": "`))
	if i < 0 {
		t.Fatalf("key file %s has no data field: %s", key, good)
	}
	i += len(`"data": "`)
	damages := map[string][]byte{
		"bad JSON":    good[:len(good)/2],
		"bad base64":  append(append(slices.Clone(good[:i]), "!!not base64!!"...), good[i+14:]...),
		"cut short":   append(slices.Clone(good[:i]), good[i+8:]...),
		"empty":       nil,
		"not a key":   []byte(`{"created":"2025-01-01T00:00:00Z"}`),
		"garbage kdf": bytes.Replace(good, []byte(`"n": `), []byte(`"n": 9`), 1),
	}
	for name, data := range damages {
		put(t, b, key, data)
		_, err := engine.Open(ctx, b, engine.OpenOptions{Password: Password})
		if !errors.Is(err, engine.ErrKeyDamaged) || errors.Is(err, engine.ErrWrongPassword) {
			t.Errorf("%s key file: %v; want ErrKeyDamaged and not ErrWrongPassword", name, err)
			continue
		}
		if !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "damaged") {
			t.Errorf("%s key file: the error does not name %s as damaged: %v", name, key, err)
		}
	}

	// With a second password, the repository still opens through its key.
	put(t, b, key, good)
	e = open(t, b, Password)
	if _, err := e.AddKey(ctx, "second password"); err != nil {
		t.Fatal(err)
	}
	_ = e.Close()
	put(t, b, key, good[:len(good)/2])
	e2, err := engine.Open(ctx, b, engine.OpenOptions{Password: "second password"})
	if err != nil {
		t.Fatalf("one damaged key file stops another key from opening: %v", err)
	}
	_ = e2.Close()
	_, err = engine.Open(ctx, b, engine.OpenOptions{Password: Password})
	if !errors.Is(err, engine.ErrWrongPassword) || !strings.Contains(err.Error(), key) {
		t.Errorf("the password of the damaged key: %v; want no key opens, naming %s as damaged", err, key)
	}
}
