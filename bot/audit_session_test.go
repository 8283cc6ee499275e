package bot_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/internal/testredis"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/policy/approval"
	"github.com/backupbot/backupbot/policy/audit"
	"github.com/backupbot/backupbot/storage"
)

// outcome is what one scripted command should lead to.
type outcome int

const (
	wantInvalid   outcome = iota // parse error: one invalid entry
	wantDenied                   // policy refusal: one command entry, allowed=false
	wantAnswered                 // answered by the router: one command entry, no job
	wantSucceeded                // one job that succeeds
	wantFailed                   // one job that fails
	wantApproval                 // needs approval: handled by the clicks below
)

// TestAuditLogOfAScriptedSession is issue 7's acceptance point 3 end to end:
// thirty commands from four people on three platforms go through the real
// router, policy, approval store and an in-process worker, and the audit log
// then holds exactly one entry per event with the right fields, the same in
// the Redis stream and the JSON-lines file, and none of the configured
// secrets, not even the ones typed into commands.
func TestAuditLogOfAScriptedSession(t *testing.T) {
	dir := t.TempDir()
	secrets := map[string]string{
		"SLACK_BOT_TOKEN":         "xoxb-1111111111-2222222222-AbCdEfGhIjKlMnOpQrStUvWx",
		"SLACK_SIGNING_SECRET":    "8f14e45fceea167a5a36dedd4bea2543",
		"BACKUPBOT_REPO_PASSWORD": "correct-horse-battery-staple-42",
		"DISCORD_BOT_TOKEN":       "MTA5ODc2NTQzMjEwOTg3NjU0.GhIjKl.abcdefghijklmnopqrstuvwxyz0123",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	pwFile, pwFileSecret := filepath.Join(dir, "repo-password"), "file-secret-Zq81vP"
	vaultFile, vaultSecret := filepath.Join(dir, "vault-password"), "vault-pass-Lk29xQ"
	for f, v := range map[string]string{pwFile: pwFileSecret + "\n", vaultFile: vaultSecret + "\n"} {
		if err := os.WriteFile(f, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("BACKUPBOT_REPO_PASSWORD_FILE", pwFile)
	secrets["BACKUPBOT_REPO_PASSWORD_FILE contents"] = pwFileSecret
	secrets["policy.audit.redact_files contents"] = vaultSecret

	data := writeData(t, dir, threeFiles)
	auditFile := filepath.Join(dir, "var", "audit.jsonl")
	pol, err := policy.Parse(fmt.Appendf(nil, `
policy:
  bindings:
    admin: ["console:alice"]
    approver: ["slack:U0BOB"]
    operator: ["slack:U0CAROL"]
    viewer: ["discord:D0DAVE"]
  approval:
    required:
      - {actions: [restore], flags: {force: true}}
      - {actions: [cleanup], flags: {force: true}}
  audit:
    file: %q
    redact_files: [%q]
`, auditFile, vaultFile))
	if err != nil {
		t.Fatal(err)
	}
	holder := policy.NewHolder(pol)
	cfg := localConfig(dir, data)

	rdb := testredis.Flushed(t, testredis.DBBotAudit)
	// Built as the service builds it, after the secrets are in the environment.
	auditLog := openAudit(t, rdb, audit.OptionsFromConfig(holder.Policy().Config().Audit))
	surface := &recordingSurface{}
	router := bot.NewRouter(bot.RouterOptions{
		Parser: cfg.Parser(), Jobs: newJobClient(t, rdb, nil), Redis: rdb, Policy: holder,
		Approvals: approval.New(rdb, holder, approval.Options{}), Audit: auditLog,
		Surfaces:     map[bot.Platform]bot.Surface{bot.Console: surface, bot.Slack: surface, bot.Discord: surface},
		EditInterval: 100 * time.Millisecond,
	})
	d := workerDeps(cfg, holder)
	d.Password = func(storage.Spec) (string, error) { return os.Getenv("BACKUPBOT_REPO_PASSWORD"), nil }
	d.Audit = jobs.AuditTo(auditLog)
	bg := runServices(t, nil)
	ctx := bg.ctx
	bg.run(router.Run)
	bg.run(jobs.NewWorker(nil, rdb, d, jobs.WorkerOptions{Concurrency: 1, RetryDelay: func(int) time.Duration { return 10 * time.Millisecond }}).Run)

	alice := bot.Identity{Platform: bot.Console, UserID: "alice", UserName: "alice"}
	bob := bot.Identity{Platform: bot.Slack, UserID: "U0BOB", UserName: "bob"}
	carol := bot.Identity{Platform: bot.Slack, UserID: "U0CAROL", UserName: "carol"}
	dave := bot.Identity{Platform: bot.Discord, UserID: "D0DAVE", UserName: "dave"}
	channelOf := map[bot.Platform]string{bot.Console: "console", bot.Slack: "C0OPS|#ops", bot.Discord: "G0BACKUPS"}

	type step struct {
		who  bot.Identity
		text string
		want outcome
	}
	first := step{alice, "/backup create --type full --target data --name base", wantSucceeded}
	script := []step{
		{carol, "/backup create --type full --target data --name " + secrets["BACKUPBOT_REPO_PASSWORD"], wantSucceeded},
		{carol, `/backup create --target data --tags "note=` + secrets["SLACK_SIGNING_SECRET"] + `"`, wantSucceeded},
		{dave, "/backup create --target data", wantDenied},
		{dave, "/backup restore --name base --target data", wantDenied},
		{dave, "/backup cleanup --older-than 30", wantDenied},
		{dave, "/backup list", wantSucceeded},
		{alice, "/backup crate --type full", wantInvalid},
		{carol, "/backup create --type weekly", wantInvalid},
		{dave, "/backup restore --name " + secrets["DISCORD_BOT_TOKEN"] + " --bogus", wantInvalid},
		{bob, "/backup crate --name " + secrets["SLACK_BOT_TOKEN"], wantInvalid},
		{bob, "/backup verify --name base", wantDenied},
		{carol, "/backup verify --all", wantSucceeded},
		{carol, "/backup restore --name does-not-exist --preview", wantFailed},
		{carol, "/backup restore --name " + pwFileSecret + " --preview", wantFailed},
		{alice, "/backup restore --name base --target data --force", wantApproval},
		{alice, "/backup cleanup --older-than 3650 --force", wantApproval},
		{dave, "/backup help", wantAnswered},
		{dave, "/backup status 0badf00d", wantAnswered},
		{carol, "/backup list --running", wantAnswered},
		{alice, "/backup approvals", wantAnswered},
		{bob, "/backup audit", wantAnswered},
		{carol, "/backup list --storage local", wantSucceeded},
		{bob, "/backup create --target data", wantDenied},
		{carol, "/backup cleanup --older-than 3650 --dry-run", wantSucceeded},
		{dave, "/backup verify --name base", wantDenied},
		{carol, "/backup snapshot --resource vm --name " + vaultSecret, wantFailed},
		{dave, "/backup list --age 7", wantSucceeded},
		{carol, "/backup restore --name base --preview", wantSucceeded},
		{dave, "/backup cleanup --older-than 1 --force", wantDenied},
	}
	script = append([]step{first}, script...)
	if len(script) != 30 {
		t.Fatalf("the script has %d commands, want 30", len(script))
	}
	start := time.Now().UTC().Add(-time.Second)

	read := func() []audit.Entry {
		t.Helper()
		es, err := audit.ReadFile(auditFile)
		if err != nil {
			t.Fatal(err)
		}
		return es
	}
	isDecision := func(e audit.Entry) bool { return e.Kind == audit.Command || e.Kind == audit.Invalid }
	decided := make([]audit.Entry, len(script)) // the entry each command left
	seenDecisions := 0
	jobRe := regexp.MustCompile("job `([0-9a-f]{8})`")
	wantOutcome := map[string]audit.Kind{} // job id -> outcome kind
	jobOwner := map[string]bot.Identity{}
	run := func(i int, s step) {
		t.Helper()
		reply := router.HandleCommand(ctx, bot.Incoming{From: s.who, Channel: channelOf[s.who.Platform], Text: s.text})
		text := reply.Message.Text
		var fresh []audit.Entry
		for _, e := range read() {
			if isDecision(e) {
				fresh = append(fresh, e)
			}
		}
		if len(fresh)-seenDecisions != 1 {
			t.Fatalf("command %d %q left %d command/invalid entries, want exactly 1", i+1, s.text, len(fresh)-seenDecisions)
		}
		decided[i], seenDecisions = fresh[len(fresh)-1], len(fresh)
		m := jobRe.FindStringSubmatch(text)
		switch s.want {
		case wantSucceeded, wantFailed:
			if m == nil || !strings.HasPrefix(text, "✅ Queued") {
				t.Fatalf("command %d %q: reply %q, want a queued job", i+1, s.text, text)
			}
			wantOutcome[m[1]] = map[outcome]audit.Kind{wantSucceeded: audit.JobSucceeded, wantFailed: audit.JobFailed}[s.want]
			jobOwner[m[1]] = s.who
		case wantApproval:
			if !strings.Contains(text, "needs approval") {
				t.Fatalf("command %d %q: reply %q, want an approval request", i+1, s.text, text)
			}
			if m != nil { // the preview a writing restore runs first
				wantOutcome[m[1]] = audit.JobSucceeded
				jobOwner[m[1]] = s.who
			}
		default:
			if m != nil || strings.HasPrefix(text, "✅ Queued") {
				t.Fatalf("command %d %q: reply %q, want no job", i+1, s.text, text)
			}
			if s.want == wantDenied && !strings.HasPrefix(text, "⛔ Not allowed") {
				t.Fatalf("command %d %q: reply %q, want a refusal", i+1, s.text, text)
			}
			if s.want == wantInvalid && !strings.HasPrefix(text, "⚠️") {
				t.Fatalf("command %d %q: reply %q, want a parse error", i+1, s.text, text)
			}
		}
	}

	waitFor := func(what string, cond func([]audit.Entry) bool) []audit.Entry {
		t.Helper()
		deadline := time.Now().Add(40 * time.Second)
		for {
			es := read()
			if cond(es) {
				return es
			}
			if time.Now().After(deadline) {
				for _, e := range es {
					t.Logf("audit: %s %s %s job=%s approval=%s err=%s", e.Kind, e.User.Display(), e.Command, e.JobID, e.ApprovalID, e.Error)
				}
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
	ended := func(es []audit.Entry, id string) bool {
		for _, e := range es {
			if e.JobID == id && e.Kind != audit.JobStarted {
				return true
			}
		}
		return false
	}

	// The first backup makes the repository the rest reads.
	run(0, script[0])
	for id := range wantOutcome {
		waitFor("the first backup", func(es []audit.Entry) bool { return ended(es, id) })
	}
	for i, s := range script[1:] {
		run(i+1, s)
	}

	// Clicks: carol (no approver role) is refused on the restore, bob
	// approves it (after its plan is re-checked) and denies the cleanup.
	restoreText := "restore --name base --target data --force"
	cleanupText := "cleanup --older-than 3650 --force"
	requested := func(text string) string {
		es := waitFor("the approval request for "+text, func(es []audit.Entry) bool {
			for _, e := range es {
				if e.Kind == audit.ApprovalRequested && e.Command == text {
					return true
				}
			}
			return false
		})
		for _, e := range es {
			if e.Kind == audit.ApprovalRequested && e.Command == text {
				return e.ApprovalID
			}
		}
		return ""
	}
	restoreApproval, cleanupApproval := requested(restoreText), requested(cleanupText)
	click := func(who bot.Identity, action, id, want string) string {
		t.Helper()
		reply := router.HandleClick(ctx, bot.Click{From: who, ActionID: action, Value: id,
			Message: bot.MessageRef{Channel: channelOf[who.Platform]}})
		if !strings.Contains(reply.Message.Text, want) {
			t.Fatalf("%s clicking %s on %s: reply %q, want %q", who.UserName, action, id, reply.Message.Text, want)
		}
		return reply.Message.Text
	}
	click(carol, bot.ActionApprove, restoreApproval, "Refused: you do not hold an approver role")
	check := click(bob, bot.ActionApprove, restoreApproval, "Checking that the plan is unchanged")
	checkJob := jobRe.FindStringSubmatch(check)[1]
	wantOutcome[checkJob], jobOwner[checkJob] = audit.JobSucceeded, alice
	click(bob, bot.ActionDeny, cleanupApproval, "Denied")

	// The approved restore runs as one more job, known only from the log.
	var restoreJob string
	entries := waitFor("every job to end", func(es []audit.Entry) bool {
		for id := range wantOutcome {
			if !ended(es, id) {
				return false
			}
		}
		for _, e := range es {
			if e.Kind == audit.JobStarted && e.Command == restoreText {
				restoreJob = e.JobID
			}
		}
		return restoreJob != "" && ended(es, restoreJob)
	})
	wantOutcome[restoreJob], jobOwner[restoreJob] = audit.JobSucceeded, alice
	end := time.Now().UTC().Add(time.Second)

	// Every entry: a known kind, a platform, a user, a time in the session.
	for _, e := range entries {
		if e.ID == "" || e.User.Platform == "" || e.User.UserID == "" || e.Time.Before(start) || e.Time.After(end) {
			t.Errorf("entry lacks its id, platform, user or a time within the session: %+v", e)
		}
	}

	// One command or invalid entry per command, with its fields.
	byKind := map[audit.Kind][]audit.Entry{}
	for _, e := range entries {
		byKind[e.Kind] = append(byKind[e.Kind], e)
	}
	decisions := append(append([]audit.Entry{}, byKind[audit.Command]...), byKind[audit.Invalid]...)
	if len(decisions) != len(script) {
		t.Errorf("%d command/invalid entries, want %d (one per command)", len(decisions), len(script))
	}
	counts := map[outcome]int{}
	for i, s := range script {
		counts[s.want]++
		e := decided[i]
		if e.User.UserID != s.who.UserID || e.User.Platform != string(s.who.Platform) || e.User.UserName != s.who.UserName || e.Channel != channelOf[s.who.Platform] {
			t.Errorf("command %d %q: entry names %+v in %q, want %s:%s in %q", i+1, s.text, e.User, e.Channel, s.who.Platform, s.who.UserID, channelOf[s.who.Platform])
		}
		switch s.want {
		case wantInvalid:
			if e.Kind != audit.Invalid || e.Error == "" || e.Allowed != nil || !redactedFrom(e.Command, s.text) {
				t.Errorf("command %d %q: entry %+v, want an invalid entry with the typed text and the parse error", i+1, s.text, e)
			}
		default:
			allowed := s.want != wantDenied
			words := strings.Fields(s.text)
			if e.Kind != audit.Command || e.Allowed == nil || *e.Allowed != allowed || e.Rule == "" || e.Action != words[1] ||
				!strings.HasPrefix(e.Command, words[1]) {
				t.Errorf("command %d %q: entry %+v, want a command entry allowed=%v with its rule, action and rendered command", i+1, s.text, e, allowed)
			}
			if !allowed && (e.Reason == "" || e.Rule != policy.RuleDefaultDeny) {
				t.Errorf("command %d %q: denied with rule %q reason %q, want the default deny and a reason", i+1, s.text, e.Rule, e.Reason)
			}
			if s.want == wantApproval && e.Detail != "needs approval" {
				t.Errorf("command %d %q: detail %q, want \"needs approval\"", i+1, s.text, e.Detail)
			}
		}
	}

	// Approvals: each event once, by the right person.
	approvalEvents := []struct {
		kind   audit.Kind
		id     string
		by     bot.Identity
		detail string
	}{
		{audit.ApprovalRequested, restoreApproval, alice, "plan "},
		{audit.ApprovalRequested, cleanupApproval, alice, ""},
		{audit.ApprovalRefused, restoreApproval, carol, ""},
		{audit.Approved, restoreApproval, bob, ""},
		{audit.Denied, cleanupApproval, bob, ""},
	}
	for _, ae := range approvalEvents {
		var got []audit.Entry
		for _, e := range byKind[ae.kind] {
			if e.ApprovalID == ae.id {
				got = append(got, e)
			}
		}
		if len(got) != 1 {
			t.Errorf("%d %s entries for approval %s, want 1", len(got), ae.kind, ae.id)
			continue
		}
		e := got[0]
		if e.User.UserID != ae.by.UserID || e.Channel != channelOf[alice.Platform] || e.Command == "" || !strings.HasPrefix(e.Detail, ae.detail) {
			t.Errorf("%s entry %+v: want user %s, channel %q, the command and detail %q…", ae.kind, e, ae.by.UserID, channelOf[alice.Platform], ae.detail)
		}
	}
	for _, k := range []audit.Kind{audit.ApprovalRequested, audit.ApprovalRefused, audit.Approved, audit.Denied, audit.Withdrawn, audit.Confirmed, audit.JobRefused, audit.JobCanceled} {
		want := map[audit.Kind]int{audit.ApprovalRequested: 2, audit.ApprovalRefused: 1, audit.Approved: 1, audit.Denied: 1}[k]
		if got := len(byKind[k]); got != want {
			t.Errorf("%d %s entries, want %d", got, k, want)
		}
	}

	// Jobs: one start and one outcome each, with the job id and requester.
	starts, outcomes := map[string]int{}, map[string][]audit.Entry{}
	for _, e := range entries {
		switch e.Kind {
		case audit.JobStarted:
			starts[e.JobID]++
		case audit.JobSucceeded, audit.JobFailed, audit.JobCanceled, audit.JobRefused:
			outcomes[e.JobID] = append(outcomes[e.JobID], e)
		default:
			continue
		}
		if owner, ok := jobOwner[e.JobID]; !ok {
			t.Errorf("%s entry for job %q, which the session did not start", e.Kind, e.JobID)
		} else if e.User.UserID != owner.UserID || e.Command == "" || e.Action == "" {
			t.Errorf("%s entry %+v: want requester %s, the command and the action", e.Kind, e, owner.UserID)
		}
	}
	succeeded, failed := 0, 0
	for id, want := range wantOutcome {
		if starts[id] != 1 {
			t.Errorf("job %s has %d job_started entries, want 1", id, starts[id])
		}
		if len(outcomes[id]) != 1 {
			t.Errorf("job %s has %d outcome entries, want 1", id, len(outcomes[id]))
			continue
		}
		o := outcomes[id][0]
		if o.Kind != want {
			t.Errorf("job %s (%s) ended %s (%s), want %s", id, o.Command, o.Kind, o.Error, want)
		}
		if (o.Kind == audit.JobFailed) != (o.Error != "") {
			t.Errorf("job %s ended %s with error %q: a failure says why, a success has no error", id, o.Kind, o.Error)
		}
		if o.Kind == audit.JobSucceeded {
			succeeded++
		} else {
			failed++
		}
	}
	if len(starts) != len(wantOutcome) || len(outcomes) != len(wantOutcome) {
		t.Errorf("job entries for %d started / %d ended jobs, want %d", len(starts), len(outcomes), len(wantOutcome))
	}
	wantTotal := len(script) + len(approvalEvents) + 2*len(wantOutcome)
	if len(entries) != wantTotal {
		t.Errorf("%d entries in the audit log, want %d", len(entries), wantTotal)
	}

	// The Redis stream holds the same entries, byte for byte.
	raw, err := os.ReadFile(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	fileLines := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var e audit.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		fileLines[e.ID] = line
	}
	// Record appends to the file first and then to the stream: wait until
	// the stream has caught up with the file before comparing.
	var msgs []redis.XMessage
	for deadline := time.Now().Add(10 * time.Second); ; {
		msgs, err = rdb.XRange(ctx, "backupbot:audit", "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) >= len(fileLines) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var stream bytes.Buffer
	for _, m := range msgs {
		for k, v := range m.Values {
			fmt.Fprintf(&stream, "%s=%v\n", k, v)
		}
		line, _ := m.Values["entry"].(string)
		var e audit.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("stream entry %s: %v", m.ID, err)
		}
		if fileLines[e.ID] != line {
			t.Errorf("stream entry %s differs from the file's line:\nstream %s\nfile   %s", e.ID, line, fileLines[e.ID])
		}
	}
	if len(msgs) != len(fileLines) || len(fileLines) != len(entries) {
		t.Errorf("%d stream entries, %d file lines, %d entries read: want them equal", len(msgs), len(fileLines), len(entries))
	}

	// No secret anywhere in the raw bytes, though several were typed.
	for name, secret := range secrets {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("the audit file holds %s", name)
		}
		if bytes.Contains(stream.Bytes(), []byte(secret)) {
			t.Errorf("the audit stream holds %s", name)
		}
	}
	if n := bytes.Count(raw, []byte(audit.Redacted)); n < 6 {
		t.Errorf("%s appears %d times in the file, want at least one per secret typed into a command", audit.Redacted, n)
	}
	t.Logf("%d commands (%d invalid, %d denied, %d answered, %d jobs, %d approvals), %d jobs ran (%d succeeded, %d failed), %d audit entries",
		len(script), counts[wantInvalid], counts[wantDenied], counts[wantAnswered], counts[wantSucceeded]+counts[wantFailed], counts[wantApproval],
		len(wantOutcome), succeeded, failed, len(entries))
}

// redactedFrom reports whether stored is typed with some parts replaced by
// audit.Redacted (or typed itself).
func redactedFrom(stored, typed string) bool {
	pattern := strings.ReplaceAll(regexp.QuoteMeta(stored), regexp.QuoteMeta(audit.Redacted), ".+")
	return regexp.MustCompile("^" + pattern + "$").MatchString(typed)
}
