package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/storage/engine"
)

// TestListOf2500BackupsKeepsRedisSmall is issue 11's "bounded Redis
// memory": a list of 2,500 backups (1.3 MB of listing) keeps a summary
// and a preview in Redis (record and event), and the whole listing goes
// to a report file the adapter can attach.
func TestListOf2500BackupsKeepsRedisSmall(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	dir := t.TempDir()
	h.cfg = testConfig(dir+"/repo", map[string]string{"data": dir})
	rows := make([]listedSnapshot, 2500)
	for i := range rows {
		rows[i] = listedSnapshot{Storage: "local", SnapshotInfo: engine.SnapshotInfo{
			ID: fmt.Sprintf("%064x", i), Name: fmt.Sprintf("nightly-%04d", i), Type: "incremental", Target: "data",
			Paths: []string{"/srv/data/app", "/srv/data/uploads"}, Tags: map[string]string{"purpose": "nightly", "team": "platform"},
			Host: "backup-host-01", Time: time.Now().Add(-time.Duration(i) * time.Hour), Files: 120000, Size: 52 << 30, Added: 3 << 20,
			ToolVersion: "backupbot dev",
		}}
	}
	list := &commands.List{Size: true}
	full := listResult(list, []config.NamedStorage{{Name: "local"}}, rows, nil)
	unbounded, _ := json.Marshal(full)
	reports := t.TempDir()
	h.startWorker(h.deps(), WorkerOptions{Concurrency: 1, ReportDir: reports, Handlers: map[commands.Action]Handler{
		commands.ActionList: HandlerFunc(func(context.Context, *Job) (*Result, error) { return full, nil }),
	}})

	before, _ := h.rdb.MemoryUsage(ctx, eventsStream).Result()
	meta := h.enqueue(list)
	ev := h.waitFinal(meta.JobID, 30*time.Second)
	if ev.Kind != EventSucceeded || ev.Result == nil || ev.Result.Report == nil {
		t.Fatalf("list ended %s with %+v", ev.Kind, ev.Result)
	}
	record, err := h.rdb.MemoryUsage(ctx, jobKey(meta.JobID)).Result()
	if err != nil {
		t.Fatal(err)
	}
	after, _ := h.rdb.MemoryUsage(ctx, eventsStream).Result()
	stream := after - before
	t.Logf("list of 2,500 backups: result %d bytes unbounded; in Redis now: job record %d bytes, lifecycle events +%d bytes (%d bytes per job)",
		len(unbounded), record, stream, record+stream)
	if len(unbounded) < 1<<20 {
		t.Fatalf("the fixture is too small to show anything: %d bytes", len(unbounded))
	}
	if record > 64<<10 || stream > 96<<10 {
		t.Errorf("Redis keeps %d bytes of record and %d bytes of events for one list job, want each under 64-96 KiB", record, stream)
	}
	if ev.Result.Report.Path == "" || len(ev.Result.Report.Data) != 0 {
		t.Errorf("the final event carries %d bytes of report (path %q), want none and the file's path", len(ev.Result.Report.Data), ev.Result.Report.Path)
	}
	st, err := h.client.Status(ctx, meta.JobID)
	if err != nil || st.Result == nil || st.Result.Report == nil {
		t.Fatalf("status: %+v, %v", st, err)
	}
	rep := st.Result.Report
	if len(rep.Data) == 0 || len(rep.Data) > PreviewLimit+200 || rep.Path == "" || !strings.HasPrefix(rep.Path, reports) {
		t.Fatalf("record's report preview %d bytes, path %q; want at most %d bytes and a file in %s", len(rep.Data), rep.Path, PreviewLimit, reports)
	}
	whole, err := os.ReadFile(rep.Path)
	if err != nil {
		t.Fatal(err)
	}
	if len(whole) != len(full.Report.Data) || !strings.Contains(string(whole), "nightly-2499") {
		t.Errorf("the report file holds %d bytes, want the whole listing (%d bytes)", len(whole), len(full.Report.Data))
	}
	if !strings.Contains(string(ev.Result.Data), `"truncated":true`) {
		t.Errorf("the result's data was not cut: %d bytes", len(ev.Result.Data))
	}
}
