package engine_test

import (
	"context"
	"testing"

	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/engine"
	"github.com/backupbot/backupbot/storage/engine/enginetest"
	"github.com/backupbot/backupbot/storage/local"
)

func TestEngineOnLocal(t *testing.T) { enginetest.Run(t, newLocal) }

func TestDamageOnLocal(t *testing.T) { enginetest.RunDamage(t, newLocal) }

// The repositories the engine's tests use (helpers_test.go has the
// helpers for their files and snapshots).

// newLocal returns a local backend in a new temporary directory.
func newLocal(t *testing.T) backend.Backend { return localAt(t, t.TempDir()) }

// localAt returns a local backend in dir.
func localAt(t *testing.T, dir string, opts ...local.Option) backend.Backend {
	t.Helper()
	b, err := local.New(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openOver creates a repository (password "pw") on b and opens it; it is
// closed when the test ends.
func openOver(t *testing.T, b backend.Backend) *engine.Engine {
	t.Helper()
	e, err := engine.Open(context.Background(), b, engine.OpenOptions{Password: "pw", Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// openLocal is openOver on a new local backend.
func openLocal(t *testing.T) *engine.Engine { return openOver(t, newLocal(t)) }
