package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/storage"
)

// The embedded defaults get one generated password file (0600, random,
// reused afterwards); storages that say encryption: none or name their
// own password_file keep theirs; a password in the environment wins and
// nothing is generated.
func TestUseGeneratedPassword(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv(EnvRepoPassword, "")
	t.Setenv(EnvRepoPasswordFile, "")
	f := Defaults()
	f.Storages["plain"] = storage.Spec{Type: storage.KindLocal, Path: "./var/plain", Encryption: storage.EncryptionNone}
	f.Storages["own"] = storage.Spec{Type: storage.KindLocal, Path: "./var/own", PasswordFile: "/etc/own-password"}
	g, err := f.UseGeneratedPassword()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.Abs(filepath.Join("var", "repo-password"))
	if g.Path != want || !g.Created {
		t.Fatalf("generated %+v, want a new file at %s", g, want)
	}
	if msg := g.Message(); !strings.Contains(msg, want) || !strings.Contains(msg, "KEEP THIS FILE") {
		t.Errorf("message %q does not say where the file is and to keep it", msg)
	}
	fi, err := os.Stat(want)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v, %v; want mode 0600", fi, err)
	}
	pw, err := RepoPassword(f.Storages["local"])
	if err != nil || len(pw) < 40 {
		t.Fatalf("the local storage's password: %d characters, %v; want the generated random one", len(pw), err)
	}
	if f.Storages["plain"].PasswordFile != "" || f.Storages["own"].PasswordFile != "/etc/own-password" {
		t.Errorf("storages with encryption: none or their own password_file were changed: %+v %+v", f.Storages["plain"], f.Storages["own"])
	}

	// A second start (make run after backupctl) reuses the same password.
	f2 := Defaults()
	g2, err := f2.UseGeneratedPassword()
	if err != nil || g2.Created || g2.Path != want {
		t.Fatalf("second use: %+v, %v; want the existing file", g2, err)
	}
	if pw2, _ := RepoPassword(f2.Storages["local"]); pw2 != pw {
		t.Fatal("the second use reads another password")
	}

	// A password in the environment: nothing generated, nothing changed.
	t.Setenv(EnvRepoPassword, "from the environment")
	f3 := Defaults()
	if g3, err := f3.UseGeneratedPassword(); err != nil || g3.Path != "" || f3.Storages["local"].PasswordFile != "" {
		t.Fatalf("with %s set: %+v, %v, %+v; want nothing generated", EnvRepoPassword, g3, err, f3.Storages["local"])
	}
}
