package engine_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/backupbot/backupbot/storage"
	"github.com/backupbot/backupbot/storage/engine/enginetest"
)

func TestMain(m *testing.M) {
	enginetest.PruneCrashChild()
	os.Exit(m.Run())
}

func TestPruneSurvivesSIGKILLInBothPhasesOnLocal(t *testing.T) {
	spec := storage.Spec{Type: storage.KindLocal, Path: filepath.Join(t.TempDir(), "repo")}
	enginetest.RunPruneCrash(t, spec, enginetest.PruneCrashOptions{Kills: 20})
}
