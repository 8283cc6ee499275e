package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/bottest"
	"github.com/backupbot/backupbot/bot/console"
	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/internal/testredis"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/storage/engine"
)

// referenceLines are the /backup lines of the command reference
// (commands/testdata/backup-command.md, the spec's copy), in order.
func referenceLines(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "commands", "testdata", "backup-command.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "/backup ") && !strings.Contains(l, "[") && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// notLocal names the reference examples that cannot run the same way in
// backupctl and in chat, and why.
var notLocal = map[string]string{
	"schedule": "schedules live in the service's Redis: backupctl says it needs the service",
	"cleanup":  "without --force or --dry-run a cleanup asks first (a terminal prompt, a chat button): the confirmation, not the work, differs",
}

// fixtureLine points an example at the fixture: every storage is the
// fixture's local one, every target its data target, an export's
// destination a directory in the data target (where the policy lets it go).
func fixtureLine(line, dir string, n int) string {
	line = regexp.MustCompile(`--storage \S+( --(path|container|bucket|region) ("[^"]*"|\S+))*`).ReplaceAllString(line, "--storage local")
	line = regexp.MustCompile(`--target (config|state)`).ReplaceAllString(line, "--target data")
	line = strings.ReplaceAll(line, "/mnt/external", filepath.Join(dir, fmt.Sprint("export-", n)))
	return line
}

// exclusion says why an example is left out, or "".
func exclusion(line string) string {
	switch {
	case strings.Contains(line, " schedule "):
		return notLocal["schedule"]
	case strings.Contains(line, " cleanup ") && !strings.Contains(line, "--dry-run") && !strings.Contains(line, "--force"):
		return notLocal["cleanup"]
	case strings.Contains(line, " cleanup ") && strings.Contains(line, "--force"):
		return "cleanup --force deletes: run once, there would be nothing left for the second run to compare"
	}
	return ""
}

// asPreview turns a restore that writes into its preview: in chat writing
// needs the restorer role and the plan confirmed (or approved), so both
// runs compare the plan: the same snapshot chosen, the same files.
func asPreview(line string) string {
	if !strings.Contains(line, " restore ") || strings.Contains(line, "--preview") {
		return line
	}
	line = strings.Replace(line, " --force", "", 1)
	return line + " --preview"
}

// outcome is what both runs are compared on: the state, the typed result
// reduced to what must agree (which snapshots, which files, which counts).
type runOutcome struct {
	State   string // ok, partial, failed
	Summary string
	Facts   string
}

// facts reduces a result's data to what the same command must give twice
// in a row on the same repository.
func facts(t *testing.T, action commands.Action, res *jobs.Result) string {
	t.Helper()
	if res == nil || len(res.Data) == 0 {
		return ""
	}
	switch action {
	case commands.ActionCreate, commands.ActionSnapshot:
		var rs []*engine.BackupResult
		if err := json.Unmarshal(res.Data, &rs); err != nil {
			t.Fatalf("%s data: %v", action, err)
		}
		var out []string
		for _, r := range rs {
			s := r.Snapshot
			out = append(out, fmt.Sprintf("%s %s files=%d dirs=%d size=%d partial=%v", s.Target, s.Type, s.Files, s.Dirs, s.Size, s.Partial))
		}
		return strings.Join(out, "; ")
	case commands.ActionRestore:
		var r struct {
			Snapshot  engine.SnapshotInfo   `json:"snapshot"`
			Snapshots []engine.SnapshotInfo `json:"snapshots"`
			Plan      []engine.PlanEntry    `json:"plan"`
			Lost      []engine.LostFile     `json:"lost"`
		}
		if err := json.Unmarshal(res.Data, &r); err != nil {
			t.Fatalf("restore data: %v", err)
		}
		var paths []string
		for _, e := range r.Plan {
			paths = append(paths, e.Path)
		}
		return fmt.Sprintf("snapshot=%s set=%d paths=%v lost=%d", r.Snapshot.ID, len(r.Snapshots), paths, len(r.Lost))
	case commands.ActionList:
		var rows []engine.SnapshotInfo
		if err := json.Unmarshal(res.Data, &rows); err != nil {
			t.Fatalf("list data: %v", err)
		}
		var ids []string
		for _, r := range rows {
			ids = append(ids, r.ID)
		}
		return strings.Join(ids, ",")
	case commands.ActionVerify:
		var rep engine.VerifyReport
		if err := json.Unmarshal(res.Data, &rep); err != nil {
			t.Fatalf("verify data: %v", err)
		}
		return fmt.Sprintf("snapshots=%d packs=%d chunks=%d problems=%d", rep.Snapshots, rep.Packs, rep.Chunks, len(rep.Problems))
	case commands.ActionExport:
		var x struct {
			Files []string `json:"files"`
		}
		_ = json.Unmarshal(res.Data, &x)
		return fmt.Sprintf("files=%d", len(x.Files))
	}
	return ""
}

// TestReferenceExamplesAgreeInChatAndBackupctl runs every reference
// example that can run locally twice on one fixture (a repository, a data
// target): through the console adapter, the router and a worker on a
// real Redis, and through backupctl in-process; the typed results must
// agree: the same state, the same snapshots chosen, the same files and
// counts. Creating commands make a new snapshot each, so they are compared
// on what the snapshot holds.
func TestReferenceExamplesAgreeInChatAndBackupctl(t *testing.T) {
	lines := referenceLines(t)
	rdb := testredis.Flushed(t, testredis.DBBackupctl)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	for p, body := range map[string]string{"db.csv": strings.Repeat("id,name\n1,alice\n", 3000), "sub/notes.txt": "notes\n"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(data, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(data, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stack := bottest.New(t, rdb, bottest.Options{Platform: string(bot.Console), Role: "admin", Data: data})
	t.Setenv("BACKUPBOT_REPO_PASSWORD", bottest.RepoPassword)
	t.Setenv("BACKUPBOT_REPO_PASSWORD_FILE", "")
	t.Chdir(dir) // verify --report writes its report here
	a := &app{cfg: stack.Config, cfgPath: "fixture", stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, stdin: strings.NewReader("")}
	ctx := context.Background()
	conOut, err := os.Create(filepath.Join(t.TempDir(), "console.txt")) // safe for the console's concurrent prints
	if err != nil {
		t.Fatal(err)
	}
	// The backups the examples name.
	for _, name := range []string{"pre-deployment", "emergency", "critical-backup", "production-2025-01", "production-full", "critical", "slow-backup", "dr-backup", "production"} {
		if _, err := a.local(ctx, &commands.Create{Type: commands.TypeFull, Target: "data", Name: name, Compress: true}); err != nil {
			t.Fatalf("seed backup %s: %v", name, err)
		}
	}
	con := console.New(console.Options{User: bot.Identity{UserID: "alice"}, Out: conOut})
	compared := 0
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(conOut.Name())
			t.Logf("console:\n%s", b)
		}
	})
	for i, line := range lines {
		if why := exclusion(line); why != "" {
			t.Logf("left out: %s (%s)", line, why)
			continue
		}
		line = asPreview(fixtureLine(line, data, i))
		cmd, err := stack.Config.Parser().Parse(line)
		if err != nil {
			t.Errorf("%s: the fixture's parser refuses it: %v", line, err)
			continue
		}
		chat := runInChat(t, rdb, stack, con, line, cmd.Action())
		// An export refuses to overwrite: the second one goes beside the
		// first, or the first leaves the default place (var/exports).
		if strings.Contains(line, "/export-") {
			cmd, _ = stack.Config.Parser().Parse(strings.Replace(line, fmt.Sprint("/export-", i), fmt.Sprint("/export-", i, "-ctl"), 1))
		} else if cmd.Action() == commands.ActionExport {
			if err := os.Rename(filepath.Join(dir, "var", "exports"), filepath.Join(dir, fmt.Sprint("chat-exports-", i))); err != nil {
				t.Fatal(err)
			}
		}
		res, err := a.local(ctx, cmd)
		ctl := runOutcome{State: "ok", Facts: facts(t, cmd.Action(), res)}
		if res != nil {
			ctl.Summary = res.Summary
			if res.Partial {
				ctl.State = "partial"
			}
		}
		if err != nil {
			ctl.State, ctl.Summary = "failed", err.Error()
		}
		compared++
		if chat.State != ctl.State || chat.Facts != ctl.Facts || (chat.State == "failed" && chat.Summary != ctl.Summary) {
			t.Errorf("%s:\n chat:      %+v\n backupctl: %+v", line, chat, ctl)
		}
	}
	if compared < 20 {
		t.Errorf("compared %d examples; the reference has more that run locally", compared)
	}
}

// runInChat types line into the console adapter in front of the stack's
// router and waits for the job's final event.
func runInChat(t *testing.T, rdb redis.UniversalClient, stack *bottest.Stack, con *console.Console, line string, action commands.Action) runOutcome {
	t.Helper()
	ctx := context.Background()
	before, err := rdb.XLen(ctx, "backupbot:events").Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := con.Run(ctx, stack.Router, strings.NewReader(line+"\n")); err != nil {
		t.Fatalf("%s: console: %v", line, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		msgs, err := rdb.XRange(ctx, "backupbot:events", "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs[min(int(before), len(msgs)):] {
			var ev jobs.Event
			if s, _ := m.Values["event"].(string); json.Unmarshal([]byte(s), &ev) != nil || !ev.Kind.Final() {
				continue
			}
			out := runOutcome{State: "ok", Facts: facts(t, action, ev.Result)}
			if ev.Result != nil {
				out.Summary = ev.Result.Summary
				if ev.Result.Partial {
					out.State = "partial"
				}
			}
			if ev.Kind != jobs.EventSucceeded {
				out.State, out.Summary = "failed", ev.Error
			}
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: no job finished in chat", line)
	return runOutcome{}
}
