package engine_test

import (
	"testing"

	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/engine/enginetest"
	"github.com/backupbot/backupbot/storage/local"
)

func TestEngineOnLocal(t *testing.T) {
	enginetest.Run(t, func(t *testing.T) backend.Backend {
		b, err := local.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func TestDamageOnLocal(t *testing.T) {
	enginetest.RunDamage(t, func(t *testing.T) backend.Backend {
		b, err := local.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}
