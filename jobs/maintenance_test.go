package jobs

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/policy/audit"
	"github.com/backupbot/backupbot/policy/lock"
)

// Maintenance jobs on a real repository: verify and the recovery drill
// finding damage, restores of damaged or locked backups, cleanup, and the
// audit of every job.

func TestVerifyFindsDamageAndCleanupDryRunRemovesNothing(t *testing.T) {
	h := newEngineHarness(t, WorkerOptions{})
	h.run(&commands.Create{Type: commands.TypeFull, Target: "data", Name: "v1", Compress: true})
	h.run(&commands.Create{Type: commands.TypeFull, Target: "config", Name: "c1", Compress: true})

	ev := h.run(&commands.Verify{All: true, Deep: true, Report: true})
	if !strings.Contains(ev.Result.Summary, "no problems") || ev.Result.Report == nil {
		t.Errorf("verify of a healthy repository: %q, report %v", ev.Result.Summary, ev.Result.Report != nil)
	}

	// Flip a byte in every data pack: deep verify names the damage.
	var packs []string
	_ = filepath.Walk(h.repo, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && strings.Contains(filepath.ToSlash(p), "/data/") {
			packs = append(packs, p)
		}
		return nil
	})
	if len(packs) == 0 {
		t.Fatalf("no data packs under %s to damage", h.repo)
	}
	for _, p := range packs {
		damageFile(t, p)
	}
	// The job fails (not ✅ succeeded), at once and for good: verifying
	// again finds the same damage, so there is no retry. Its failed event
	// and status record still carry the findings.
	meta := h.enqueue(&commands.Verify{Name: "v1", Deep: true})
	ev = h.waitFinal(meta.JobID, 60*time.Second)
	if ev.Kind != EventFailed {
		t.Fatalf("deep verify of a damaged repository ended %s (%q); want failed", ev.Kind, ev.Error)
	}
	if !strings.Contains(ev.Error, "snapshot v1") || !strings.Contains(ev.Error, "random.bin") || !strings.Contains(ev.Error, "problem") {
		t.Errorf("the failure does not name the damaged snapshot and file: %s", ev.Error)
	}
	if ev.Result == nil || !strings.Contains(ev.Result.Summary, "PROBLEMS") || field(ev.Result, "Problems") == "" {
		t.Errorf("the failed verify does not carry its findings: %+v", ev.Result)
	}
	if kinds := h.events.kinds(meta.JobID); slices.Contains(kinds, EventRetrying) || ev.Attempt != 1 {
		t.Errorf("a verify that found damage was retried: events %v, attempt %d", kinds, ev.Attempt)
	}
	if st, err := h.client.Status(context.Background(), meta.JobID); err != nil || st.State != StateFailed || st.Result == nil {
		t.Errorf("status of the failed verify: %+v, %v; want state failed with the findings", st, err)
	}

	// Cleanup: a dry run removes nothing, keep-min keeps the newest.
	ev = h.run(&commands.Cleanup{KeepMin: 1, DryRun: true})
	if !strings.Contains(ev.Result.Summary, "Would remove") || len(h.snapshots()) != 2 {
		t.Errorf("dry run: %q and %d snapshots left, want nothing removed", ev.Result.Summary, len(h.snapshots()))
	}
}

func TestCleanupKeepsFreshBackups(t *testing.T) {
	h := newEngineHarness(t, WorkerOptions{})
	for range 3 {
		h.run(&commands.Create{Type: commands.TypeFull, Target: "config", Compress: true})
	}
	ev := h.run(&commands.Cleanup{Target: "config", OlderThan: 1, KeepMin: 1, Force: true})
	if left := h.snapshots(); len(left) != 3 || !strings.Contains(ev.Result.Summary, "Removed 0 backups") || !strings.Contains(ev.Result.Summary, "kept 3") {
		t.Errorf("cleanup --older-than 1 of backups made just now: %q, %d left; want all kept", ev.Result.Summary, len(left))
	}
}

func TestRestoreOfALockedTargetSaysWhoHoldsIt(t *testing.T) {
	h := newEngineTrees(t, 1000)
	locks := lock.New(h.rdb, lock.Options{})
	deps := h.deps()
	deps.Locks = locks
	h.startWorker(deps, WorkerOptions{})
	h.run(&commands.Create{Type: commands.TypeFull, Target: "data", Name: "base", Compress: true})

	bob := policy.Identity{Platform: "console", UserID: "bob", UserName: "bob"}
	lease, err := locks.Lock(context.Background(), lock.Key{Storage: "local", Target: "data"}, lock.Owner{Identity: bob, JobID: "0badc0de", Action: "restore"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	meta := h.enqueue(&commands.Restore{Name: "base", Target: "data", To: out})
	ev := h.waitFinal(meta.JobID, 20*time.Second)
	if ev.Kind != EventFailed || !strings.Contains(ev.Error, "@bob") || !strings.Contains(ev.Error, "since") {
		t.Fatalf("restore of a locked target: %s %q, want a failure naming the holder and since when", ev.Kind, ev.Error)
	}
	// A preview writes nothing and needs no lock.
	h.run(&commands.Restore{Name: "base", Target: "data", Preview: true})
	if err := lease.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.run(&commands.Restore{Name: "base", Target: "data", To: out})
	if held, _ := locks.Held(context.Background(), "local"); len(held) != 0 {
		t.Errorf("locks still held after the restore: %+v", held)
	}
}

func TestJobStartsAndOutcomesAreAudited(t *testing.T) {
	h := newHarness(t)
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	log, err := audit.New(h.rdb, audit.Options{Prefix: "backupbot:test:", File: file, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	deps := h.deps()
	deps.Audit = AuditTo(log)
	h.startWorker(deps, WorkerOptions{Handlers: map[commands.Action]Handler{
		commands.ActionList: HandlerFunc(func(context.Context, *Job) (*Result, error) { return &Result{Summary: "3 backups"}, nil }),
		commands.ActionVerify: HandlerFunc(func(context.Context, *Job) (*Result, error) {
			return nil, Permanent(os.ErrPermission)
		}),
	}})
	ok := h.enqueue(&commands.List{})
	bad := h.enqueue(&commands.Verify{All: true})
	h.waitFinal(ok.JobID, 5*time.Second)
	h.waitFinal(bad.JobID, 5*time.Second)

	entries, err := log.Query(context.Background(), audit.Filter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]audit.Kind{}
	for _, e := range entries {
		got[e.JobID] = append(got[e.JobID], e.Kind)
		if e.User.UserID != "alice" || e.Channel != "ops" {
			t.Errorf("audit entry %+v lost who and where", e)
		}
	}
	if want := []audit.Kind{audit.JobStarted, audit.JobSucceeded}; !slices.Equal(got[ok.JobID], want) {
		t.Errorf("audit of the list job: %v, want %v", got[ok.JobID], want)
	}
	if want := []audit.Kind{audit.JobStarted, audit.JobFailed}; !slices.Equal(got[bad.JobID], want) {
		t.Errorf("audit of the failing verify: %v, want %v", got[bad.JobID], want)
	}
}

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
