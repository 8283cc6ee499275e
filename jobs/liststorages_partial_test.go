package jobs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/storage"
)

// list --storage all with one storage that cannot be read is a partial
// result naming it, never a plain success.
func TestListAllWithAnUnreadableStorageIsPartial(t *testing.T) {
	h := newEngineHarness(t, WorkerOptions{Concurrency: 1})
	h.run(&commands.Create{Type: commands.TypeFull, Target: "data", Name: "one"})
	broken := filepath.Join(t.TempDir(), "not-a-directory")
	if err := os.WriteFile(broken, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.cfg.Storages["nas"] = storage.Spec{Type: storage.KindNetwork, Path: broken + "/repo"}
	ev := h.run(&commands.List{Storage: commands.StorageRef{Name: "all"}})
	if !ev.Result.Partial || !strings.Contains(ev.Result.Summary, "PARTIAL: nas could not be read") || !strings.Contains(ev.Result.Summary, "1 backups") {
		t.Errorf("list --storage all with nas broken: partial=%v %q", ev.Result.Partial, ev.Result.Summary)
	}
	h.cfg.Storages["local"] = storage.Spec{Type: storage.KindLocal, Path: broken + "/other"}
	meta := h.enqueue(&commands.List{Storage: commands.StorageRef{Name: "all"}})
	if ev := h.waitFinal(meta.JobID, 30*time.Second); ev.Kind != EventFailed {
		t.Errorf("list with no storage readable ended %s, want failed", ev.Kind)
	}
}
