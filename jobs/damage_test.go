package jobs

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/storage"
	"github.com/backupbot/backupbot/storage/engine"
	"github.com/backupbot/backupbot/storage/pack"
	storerepo "github.com/backupbot/backupbot/storage/repo"
)

// TestRestoreOfADamagedBackupNamesTheLostFiles deletes the data of one
// backup: its restore job fails, saying how many files were lost, with the
// list in the result and attached; list --verify fails and flags exactly
// that backup; the other backup restores.
func TestRestoreOfADamagedBackupNamesTheLostFiles(t *testing.T) {
	h := newEngineHarness(t, WorkerOptions{})
	h.run(&commands.Create{Type: commands.TypeFull, Target: "config", Name: "conf-one"})
	confPacks := h.dataPacks()
	h.run(&commands.Create{Type: commands.TypeFull, Target: "data", Name: "data-one"})
	for _, p := range h.dataPacks() {
		if !slices.Contains(confPacks, p) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}
	}

	dest := filepath.Join(t.TempDir(), "restored")
	meta := h.enqueue(&commands.Restore{Name: "data-one", Target: "data", To: dest})
	ev := h.waitFinal(meta.JobID, 60*time.Second)
	if ev.Kind != EventFailed || !strings.Contains(ev.Error, "files could not be restored") || !strings.Contains(ev.Error, "verify --fix") {
		t.Fatalf("restore of a backup whose data is gone: %s: %s; want a failure saying how many files were lost", ev.Kind, ev.Error)
	}
	if ev.Result == nil || ev.Result.Report == nil || !strings.HasPrefix(ev.Result.Report.Name, "restore-lost-") {
		t.Fatalf("the failed restore attaches no list of lost files: %+v", ev.Result)
	}
	// random.bin is the one file only the data target holds; the others
	// share their content with config's files, whose data is intact.
	report := strings.TrimSpace(string(ev.Result.Report.Data))
	if !strings.Contains(report, "random.bin") || strings.Contains(report, "readme.txt") {
		t.Errorf("the lost-files list should name random.bin and only it:\n%s", report)
	}
	if got, err := findRestored(dest, "readme.txt"); err != nil || len(got) == 0 {
		t.Errorf("an intact file was not restored: %v", err)
	}
	lostField := ""
	for _, f := range ev.Result.Fields {
		if strings.HasPrefix(f.Label, "Lost (") {
			lostField = f.Label
		}
	}
	if want := "Lost (1 file)"; lostField != want {
		t.Errorf("lost field %q, want %q", lostField, want)
	}

	meta = h.enqueue(&commands.List{Storage: commands.StorageRef{Name: "all"}, Verify: true})
	ev = h.waitFinal(meta.JobID, 60*time.Second)
	if ev.Kind != EventFailed || ev.Result == nil {
		t.Fatalf("list --verify of a damaged repository: %s: %s", ev.Kind, ev.Error)
	}
	for _, line := range strings.Split(field(ev.Result, "Backups"), "\n") {
		switch {
		case strings.HasPrefix(line, "data-one"):
			if !strings.Contains(line, "DAMAGED") {
				t.Errorf("list --verify does not flag the damaged backup: %q", line)
			}
		case strings.HasPrefix(line, "conf-one"):
			if strings.Contains(line, "DAMAGED") {
				t.Errorf("list --verify flags an intact backup: %q", line)
			}
		}
	}
	h.run(&commands.Restore{Name: "conf-one", Target: "config", To: filepath.Join(t.TempDir(), "conf")})
}

// dataPacks returns the files of the packs holding file data.
func (h *engineHarness) dataPacks() []string {
	h.t.Helper()
	ctx := context.Background()
	b, err := storage.Open(ctx, storage.Spec{Type: storage.KindLocal, Path: h.repo})
	if err != nil {
		h.t.Fatal(err)
	}
	defer b.Close()
	e, err := engine.Open(ctx, b, engine.OpenOptions{Password: testRepoPassword})
	if err != nil {
		h.t.Fatal(err)
	}
	defer e.Close()
	seen := map[string]bool{}
	var out []string
	e.Repository().Index.Each(func(l storerepo.Location) {
		k := filepath.Join(h.repo, filepath.FromSlash(storerepo.PackKey(l.Pack)))
		if l.Type == pack.DataBlob && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	})
	if len(out) == 0 {
		h.t.Fatal("no data packs")
	}
	return out
}
