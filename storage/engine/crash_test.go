package engine_test

import (
	"path/filepath"
	"testing"

	"github.com/backupbot/backupbot/storage"
	"github.com/backupbot/backupbot/storage/engine/enginetest"
)

func TestBackupSurvivesSIGKILLOnLocal(t *testing.T) {
	spec := storage.Spec{Type: storage.KindLocal, Path: filepath.Join(t.TempDir(), "repo")}
	enginetest.RunCrash(t, spec, enginetest.CrashOptions{Kills: 20})
}
