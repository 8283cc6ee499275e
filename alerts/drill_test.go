package alerts_test

import (
	"context"
	"io/fs"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/compliance"
	"github.com/backupbot/backupbot/jobs"
)

// TestDrillAndRepositorySizeMetrics: after backups of two targets and a
// recovery drill of the storage, /metrics has the drill's time, outcome
// and measured RTO per target and the repository's size (what its packs
// take on disk); promtool accepts the exposition.
func TestDrillAndRepositorySizeMetrics(t *testing.T) {
	h := newHistory(t)
	h.startWorker()
	h.run("create --target web --storage local", "", jobs.EventSucceeded)
	db := h.run("create --target db --storage local", "", jobs.EventSucceeded)
	drill := h.run("verify --restore-test --all --storage local", "", jobs.EventSucceeded)

	body := scrape(t, h.rdb)
	cmd := exec.Command(promtool(t), "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	s := series(t, body)
	at := float64(drill.At.UnixNano()) / 1e9
	for _, target := range []string{"web", "db"} {
		if got := s[`backupbot_recovery_test_last_timestamp_seconds{target="`+target+`"}`]; math.Abs(got-at) > 1e-3 {
			t.Errorf("drill time of %s = %v, want %v", target, got, at)
		}
		if got, ok := s[`backupbot_recovery_test_last_success{target="`+target+`"}`]; !ok || got != 1 {
			t.Errorf("drill success of %s = %v (present %v), want 1", target, got, ok)
		}
		if got := s[`backupbot_recovery_test_rto_seconds_per_gib{target="`+target+`"}`]; got <= 0 {
			t.Errorf("drill RTO of %s = %v, want a measured value", target, got)
		}
	}

	// The size is what the packs take on disk, and what the last backup
	// reported.
	var onDisk int64
	err := filepath.WalkDir(filepath.Join(h.cfg.Storages["local"].Path, "data"), func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			onDisk += fi.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got := s[`backupbot_repository_size_bytes{storage="local"}`]
	if got != float64(onDisk) || db.Result.Repository == nil || db.Result.Repository.Bytes != onDisk {
		t.Errorf("repository size metric %v, last backup's %+v; its packs take %d bytes", got, db.Result.Repository, onDisk)
	}
	// The dashboard's growth chart draws the same size: its newest sample
	// of local is what the packs take.
	samples, err := compliance.NewHistory(h.rdb).Samples(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if l := samples["local"]; len(l) != 2 || l[1].Bytes != onDisk {
		t.Errorf("size samples of local = %+v; want 2, the newest %d bytes", l, onDisk)
	}
}
