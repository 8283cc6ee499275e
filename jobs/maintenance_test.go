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
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/policy/audit"
	"github.com/backupbot/backupbot/policy/lock"
)

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
