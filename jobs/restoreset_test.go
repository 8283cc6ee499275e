package jobs

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/backupbot/backupbot/commands"
)

// TestRestoreTargetAllThroughTheWorker: as a queued job (what chat runs),
// create --target all is one backup set (one time, one set tag) and
// restore --target all --to DIR writes every target of it back, byte for
// byte.
func TestRestoreTargetAllThroughTheWorker(t *testing.T) {
	h := newEngineHarness(t, WorkerOptions{})
	h.run(&commands.Create{Type: commands.TypeFull, Target: "all", Compress: true})
	snaps := h.snapshots()
	if len(snaps) != 2 || snaps[0].Tags[SetTag] == "" || snaps[0].Tags[SetTag] != snaps[1].Tags[SetTag] || !snaps[0].Time.Equal(snaps[1].Time) {
		t.Fatalf("create --target all made %+v; want two snapshots with one set tag and one time", snaps)
	}
	dest := filepath.Join(t.TempDir(), "restored")
	ev := h.run(&commands.Restore{Name: "latest", Target: "all", To: dest})
	if field(ev.Result, "Target") != "config, data" {
		t.Errorf("restore --target all restored targets %q; want config, data", field(ev.Result, "Target"))
	}
	for _, src := range []string{h.data, h.conf} {
		err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			want, _ := os.ReadFile(p)
			got, rerr := os.ReadFile(filepath.Join(dest, p))
			if rerr != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: restored %d bytes (%v), want the source's %d", p, len(got), rerr, len(want))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
