package jobs

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commands"
)

// drillData decodes a drill job's result data.
func drillData(t *testing.T, ev Event) DrillData {
	t.Helper()
	if ev.Result == nil {
		t.Fatalf("drill job %s has no result", ev.Meta.JobID)
	}
	var d DrillData
	if err := json.Unmarshal(ev.Result.Data, &d); err != nil {
		t.Fatalf("drill result data: %v", err)
	}
	return d
}

// noScratchLeft fails when a job's drill scratch directory is still there.
func noScratchLeft(t *testing.T, jobID string) {
	t.Helper()
	if left, _ := filepath.Glob(filepath.Join(os.TempDir(), "backupbot-drill-"+jobID+"-*")); len(left) > 0 {
		t.Errorf("the drill left its scratch directory behind: %v", left)
	}
}

// TestRecoveryDrill is issue 15's third point at the worker: a drill of an
// intact repository passes, checks every file against the stored hashes
// and the unchanged source, and reports the measured RTO per GiB; a
// sample restores only its share; a source file changed behind the
// backup's back (same size and time) is caught; once one data pack is
// damaged the drill fails, naming the file, and leaves no scratch behind.
func TestRecoveryDrill(t *testing.T) {
	h := newEngineHarness(t, WorkerOptions{})
	h.run(&commands.Create{Type: commands.TypeFull, Target: "data", Name: "d1", Compress: true})

	ev := h.run(&commands.Verify{Name: "d1", RestoreTest: true})
	d := drillData(t, ev)
	if len(d.Snapshots) != 1 || d.Storage == "" {
		t.Fatalf("drill of one backup: %+v", d)
	}
	s := d.Snapshots[0]
	if s.Files != int64(len(h.files)) || s.FilesInSnapshot != int64(len(h.files)) || s.SourceFiles != s.Files || len(s.Failures) != 0 {
		t.Errorf("whole drill: %d of %d files checked, %d against the source, failures %v; want all %d", s.Files, s.FilesInSnapshot, s.SourceFiles, s.Failures, len(h.files))
	}
	var size int64
	for _, b := range h.files {
		size += int64(len(b))
	}
	if s.Bytes != size || s.RTOSecondsPerGiB <= 0 || s.Restore <= 0 {
		t.Errorf("drill: %d bytes, RTO %v s/GiB, restore %v; want %d bytes and a measured RTO", s.Bytes, s.RTOSecondsPerGiB, s.Restore, size)
	}
	if !strings.Contains(ev.Result.Summary, "passed") || !strings.Contains(field(ev.Result, "Measured RTO"), "s/GiB") {
		t.Errorf("drill result: %q, RTO field %q", ev.Result.Summary, field(ev.Result, "Measured RTO"))
	}
	noScratchLeft(t, ev.Meta.JobID)
	t.Logf("intact: %s", ev.Result.Summary)

	// A 50% sample of four files restores two.
	ev = h.run(&commands.Verify{All: true, RestoreTest: true, Sample: 50})
	if s := drillData(t, ev).Snapshots[0]; s.Files != 2 || s.FilesInSnapshot != 4 {
		t.Errorf("50%% sample: %d of %d files checked, want 2 of 4", s.Files, s.FilesInSnapshot)
	}

	// The source's readme changes with its size and time kept: the
	// comparison with the source sees it.
	readme := filepath.Join(h.data, "readme.txt")
	fi, err := os.Stat(readme)
	if err != nil {
		t.Fatal(err)
	}
	changed := []byte(strings.ToUpper(string(h.files["readme.txt"])))
	if err := os.WriteFile(readme, changed, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(readme, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	meta := h.enqueue(&commands.Verify{Name: "d1", RestoreTest: true})
	ev = h.waitFinal(meta.JobID, 60*time.Second)
	if ev.Kind != EventFailed || !strings.Contains(ev.Error, "readme.txt") || !strings.Contains(ev.Error, "differs from the source") {
		t.Errorf("drill with a source changed behind the backup: %s: %s", ev.Kind, ev.Error)
	}
	if err := os.WriteFile(readme, h.files["readme.txt"], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(readme, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}

	// Damage the biggest data pack (random.bin's data is in it).
	var biggest string
	var big int64
	for _, p := range h.dataPacks() {
		if fi, err := os.Stat(p); err == nil && fi.Size() > big {
			biggest, big = p, fi.Size()
		}
	}
	damageFile(t, biggest)
	meta = h.enqueue(&commands.Verify{Name: "d1", RestoreTest: true})
	ev = h.waitFinal(meta.JobID, 60*time.Second)
	if ev.Kind != EventFailed || !strings.Contains(ev.Error, "recovery drill") || !strings.Contains(ev.Error, "random.bin") {
		t.Fatalf("drill of a damaged repository: %s: %s; want a failure naming random.bin", ev.Kind, ev.Error)
	}
	if ev.Attempt != 1 {
		t.Errorf("a drill that found damage was retried (attempt %d)", ev.Attempt)
	}
	d = drillData(t, ev)
	if d.OK() || !strings.Contains(field(ev.Result, "Failed"), "random.bin") {
		t.Errorf("failed drill's result does not carry the failure: %+v", ev.Result.Fields)
	}
	noScratchLeft(t, meta.JobID)
	t.Logf("damaged: %s", ev.Error)
}
