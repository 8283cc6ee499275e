package storage_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/storage"
	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/backend/backendtest"
	"github.com/backupbot/backupbot/storage/engine/enginetest"
	"github.com/backupbot/backupbot/storage/retry"
	"github.com/backupbot/backupbot/storage/smb"
	"github.com/backupbot/backupbot/storage/smb/smbtest"
)

// smbSpecs are the two ways a configuration names the test share: the
// reference's UNC path with the port from the storage's port: key, and an
// smb:// URL with the port in it. The password comes from a file for one
// and from the environment for the other, as in production.
func smbSpecs(t *testing.T) map[string]func(t *testing.T) storage.Spec {
	srv := smbtest.Env(t)
	pwFile := filepath.Join(t.TempDir(), "smb-password")
	if err := os.WriteFile(pwFile, []byte(srv.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]func(t *testing.T) storage.Spec{
		"unc": func(t *testing.T) storage.Spec {
			dir := smbtest.UniqueDir(t)
			t.Cleanup(func() { smbtest.Remove(t, srv, dir) })
			return storage.Spec{Type: storage.KindNetwork, Path: `\\` + srv.Host + `\` + srv.Share + `\` + dir + `\repo`,
				Port: srv.Port, User: srv.User, SMBPasswordFile: pwFile}
		},
		"url": func(t *testing.T) storage.Spec {
			t.Setenv(smb.EnvPassword, srv.Password)
			dir := smbtest.UniqueDir(t)
			t.Cleanup(func() { smbtest.Remove(t, srv, dir) })
			return storage.Spec{Type: storage.KindNetwork, Path: fmt.Sprintf("smb://%s:%d/%s/%s/repo", srv.Host, srv.Port, srv.Share, dir),
				User: srv.User}
		},
	}
}

func openSpec(t *testing.T, spec storage.Spec) backend.Backend {
	t.Helper()
	b, err := storage.Open(context.Background(), spec)
	if err != nil {
		t.Fatalf("Open(%s): %v", spec.Path, err)
	}
	if _, ok := b.(*retry.Backend); !ok {
		t.Errorf("Open returned %T; want it behind the retry wrapper", b)
	}
	if !strings.HasPrefix(b.Location(), "smb://") {
		t.Errorf("Location() = %q; want the smb:// form", b.Location())
	}
	return b
}

// TestOpenSMBSpecs: a network storage at an SMB location passes the
// backend contract and the engine's acceptance suite (backup, restore,
// verify, cleanup...) over SMB, in both spellings.
func TestOpenSMBSpecs(t *testing.T) {
	for name, spec := range smbSpecs(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("Conformance", func(t *testing.T) {
				backendtest.Run(t, func(t *testing.T) backend.Backend { return openSpec(t, spec(t)) })
			})
			t.Run("Engine", func(t *testing.T) {
				enginetest.Run(t, func(t *testing.T) backend.Backend { return openSpec(t, spec(t)) })
			})
		})
	}
}

// TestOpenRefusesSharesAndDrivesAsLocalPaths: a UNC path or a drive letter
// given to a local storage, or a drive letter to a network one, is refused
// and nothing is created in the working directory.
func TestOpenRefusesSharesAndDrivesAsLocalPaths(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, spec := range []storage.Spec{
		{Type: storage.KindLocal, Path: `\\nas\backups\aitherzero`},
		{Type: storage.KindLocal, Path: `smb://nas/backups/x`},
		{Type: storage.KindLocal, Path: `D:/Backups/x`},
		{Type: storage.KindNetwork, Path: `D:\Backups\x`},
		{Type: "", Path: `\\nas\backups`},
	} {
		_, err := storage.Open(context.Background(), spec)
		if !errors.Is(err, backend.ErrPermanent) {
			t.Errorf("Open(%+v) = %v; want a permanent error", spec, err)
			continue
		}
		if !strings.Contains(err.Error(), spec.Path) {
			t.Errorf("Open(%+v): %v; want the message to name the path", spec, err)
		}
	}
	ents, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Fatalf("refused paths left %d entries in the working directory (first %q)", len(ents), ents[0].Name())
	}
}
