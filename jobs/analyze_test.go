package jobs

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
)

// localRun runs cmd as backupctl does (RunLocal, a real repository) with
// the clock at now.
func localRun(t *testing.T, cfg *config.File, now time.Time, cmd commands.Command) *Result {
	t.Helper()
	deps := testDeps(func() *config.File { return cfg })
	deps.Now = func() time.Time { return now }
	res, err := RunLocal(context.Background(), deps, cmd, nil)
	if err != nil {
		t.Fatalf("%s: %v", commands.Render(cmd), err)
	}
	return res
}

// The compliance report names the target whose last backup is too old and
// whose expired backup is still in the repository, and attaches one CSV
// row per target; analyze without --name covers the whole repository.
func TestComplianceReportAndRepositoryAnalysis(t *testing.T) {
	dir := t.TempDir()
	data, conf := filepath.Join(dir, "data"), filepath.Join(dir, "config")
	files := writeTree(t, data, 300<<10)
	writeTree(t, conf, 1000)
	cfg := testConfig(filepath.Join(dir, "repo"), map[string]string{"data": data, "config": conf})
	now := time.Now()
	old := now.Add(-10 * 24 * time.Hour)

	localRun(t, cfg, old, &commands.Create{Type: commands.TypeFull, Target: "config", Retention: 2})
	localRun(t, cfg, old, &commands.Create{Type: commands.TypeFull, Target: "data"})
	localRun(t, cfg, now, &commands.Create{Type: commands.TypeFull, Target: "data"})

	rep := localRun(t, cfg, now, &commands.Analyze{Report: commands.ReportCompliance})
	if !strings.HasPrefix(rep.Summary, "Compliance: 1 of 2 targets covered") {
		t.Errorf("summary %q, want 1 of 2 targets covered", rep.Summary)
	}
	md := field(rep, "Report")
	if !strings.Contains(md, "| Target |") || !strings.Contains(md, "`config`: no recent backup") ||
		!strings.Contains(md, "`config`: 1 snapshot past retention still present") {
		t.Errorf("Markdown summary does not name config's gaps:\n%s", md)
	}
	if rep.Report == nil || !strings.HasSuffix(rep.Report.Name, ".csv") {
		t.Fatalf("no CSV attached: %+v", rep.Report)
	}
	rows, err := csv.NewReader(bytes.NewReader(rep.Report.Data)).ReadAll()
	if err != nil || len(rows) != 3 {
		t.Fatalf("CSV: %v, %d rows, want a header and one row per target:\n%s", err, len(rows), rep.Report.Data)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	byTarget := map[string][]string{rows[1][0]: rows[1], rows[2][0]: rows[2]}
	if r := byTarget["config"]; r[col["coverage"]] != "no recent backup" || r[col["stale"]] != "true" || r[col["past_retention"]] != "1" {
		t.Errorf("config row %v", r)
	}
	if r := byTarget["data"]; r[col["coverage"]] != "ok" || r[col["stale"]] != "false" || r[col["past_retention"]] != "0" || r[col["snapshots"]] != "2" {
		t.Errorf("data row %v", r)
	}

	// analyze without --name: the whole repository.
	res := localRun(t, cfg, now, &commands.Analyze{})
	var a RepositoryAnalysis
	if err := json.Unmarshal(res.Data, &a); err != nil {
		t.Fatal(err)
	}
	if a.Snapshots != 3 || len(a.Targets) != 2 || a.Targets[1].Target != "data" || a.Targets[1].Snapshots != 2 {
		t.Errorf("analysis: %d snapshots, targets %+v; want 3 and data with 2", a.Snapshots, a.Targets)
	}
	// data was backed up twice unchanged: its chunks are stored once.
	if a.Dedup < 1.8 || a.Compression <= 0 || a.Stored <= 0 || a.Packs < a.Stored {
		t.Errorf("dedup %.2f, compression %.2f, stored %d, packs %d", a.Dedup, a.Compression, a.Stored, a.Packs)
	}
	if len(a.LargestFiles) == 0 || !strings.HasSuffix(a.LargestFiles[0].Path, "/random.bin") ||
		a.LargestFiles[0].Size != int64(len(files["random.bin"])) {
		t.Errorf("largest files %+v, want random.bin first", a.LargestFiles)
	}
	if len(a.LargestDirs) == 0 || a.LargestDirs[0].Size < int64(len(files["random.bin"])) {
		t.Errorf("largest directories %+v", a.LargestDirs)
	}
	if !strings.Contains(res.Summary, "3 backups of 2 targets") || field(res, "Growth per target") == "" || res.Report == nil {
		t.Errorf("result %q, fields %+v", res.Summary, res.Fields)
	}
}
