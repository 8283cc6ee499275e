package bot_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/policy/approval"
)

const quick = 10 * time.Second

// jobKeys counts job records in Redis (what an enqueue creates).
func (s *stack) jobKeys() int {
	keys, err := s.rdb.Keys(context.Background(), "backupbot:job:*").Result()
	if err != nil {
		s.t.Fatal(err)
	}
	return len(keys)
}

func TestCommandsAnsweredWithoutAJob(t *testing.T) {
	s := newStack(t, false)
	tests := []struct {
		name, user, line, reply string
	}{
		{"a typo gets its parse error and a suggestion", "alice", "/backup crate --type full", "^\\[reply\\] ⚠️ .*did you mean `create`\\?"},
		{"a bad value names the allowed ones", "alice", "/backup create --type weekly", `^\[reply\] ⚠️ .*full.*incremental.*differential`},
		{"a viewer may not create, and is told which role", "dave", "/backup create --target data", `^\[reply\] ⛔ Not allowed: .*operator`},
		{"help lists the actions", "dave", "/backup help", `^\[reply\] .*/backup`},
		{"status of an unknown job", "alice", "/backup status 0badf00d", `^\[reply\] ⚠️ job 0badf00d: no such job`},
		{"nothing running", "alice", "/backup list --running", `^\[reply\] No jobs are queued or running\.`},
		{"no approvals pending", "alice", "/backup approvals", `^\[reply\] No approval requests are pending\.`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.t = t
			before := s.jobKeys()
			s.as(tt.user, tt.line)
			s.expect(tt.reply, quick)
			if after := s.jobKeys(); after != before {
				t.Errorf("%q enqueued a job (%d job keys before, %d after)", tt.line, before, after)
			}
		})
	}
}

func TestQueuedJobStatusListAndCancel(t *testing.T) {
	s := newStack(t, false) // no worker: the job stays queued
	s.as("alice", "/backup create --type full --target data")
	id := s.expect("^\\[reply\\] ✅ Queued as job `([0-9a-f]{8})`", quick)[1]
	s.expect(`^  ↳ \[msg-\d+ in msg-\d+\] ⏳ Queued, waiting for a worker…$`, quick)
	if n := s.count(`^\[(msg-\d+)\] 🗄 ` + "`backup create --type full --target data`" + ` requested by @alice — job ` + id + `$`); n != 1 {
		t.Fatalf("%d parent messages for job %s, want 1", n, id)
	}

	s.as("alice", "/backup status "+id)
	s.expect("^\\[reply\\] Job `"+id+"` · `create --type full --target data` · queued$", quick)
	s.expect(`^\s+Requested by: @alice$`, quick)
	s.as("carol", "/backup list --running")
	s.expect(`^\[reply\] 1 job\(s\) queued or running:`, quick)
	s.expect("^\\s+• `"+id+"` `create --type full --target data` · queued · by @alice$", quick)

	s.as("alice", "/backup cancel "+id)
	s.expect("^\\[reply\\] ⏹ Cancel requested for job `"+id+"`", quick)
	s.expect(`^  ↳ \[edit msg-\d+\] ⏹ Canceled$`, quick)
	s.expect("^  ↳ \\[msg-\\d+ in msg-\\d+\\] ⏹ Job `"+id+"` stopped: canceled before it ran", quick)
	s.as("alice", "/backup cancel "+id)
	s.expect(`^\[reply\] ℹ️ Nothing to cancel`, quick)
}

func TestJobRunsWithProgressAndSummaryAndRetryButton(t *testing.T) {
	s := newStack(t, true)
	s.as("alice", "/backup create --type full --target data --name base")
	id := s.expect("^\\[reply\\] ✅ Queued as job `([0-9a-f]{8})`", quick)[1]
	s.expect(`^  ↳ \[msg-\d+ in msg-\d+\] ✅ Backup base done`, 30*time.Second)
	if n := s.count(`^\[msg-\d+\] 🗄 .* job ` + id + `$`); n != 1 {
		t.Errorf("%d parent messages for job %s, want 1", n, id)
	}

	// A failure no retry can fix (no such backup) says why, with no Retry.
	s.as("alice", "/backup restore --name does-not-exist --preview")
	missing := s.expect("^\\[reply\\] ✅ Queued as job `([0-9a-f]{8})`", quick)[1]
	s.expect("^  ↳ \\[msg-\\d+ in msg-\\d+\\] ❌ Job `"+missing+"` failed: .*does-not-exist", 30*time.Second)
	s.expect("^\\s+Fix the cause, then run the command again\\.$", quick)
	if n := s.count(`buttons: \[retry ` + missing + `\]`); n != 0 {
		t.Errorf("the failure of a restore of a backup that does not exist offers Retry")
	}

	// A failing job whose storage may answer next time says why and
	// offers Retry, which runs it again.
	s.as("alice", "/backup export --name base --storage local --path "+filepath.Join(s.dir, "repo", "flaky"))
	failed := s.expect("^\\[reply\\] ✅ Queued as job `([0-9a-f]{8})`", quick)[1]
	s.expect("^  ↳ \\[msg-\\d+ in msg-\\d+\\] ❌ Job `"+failed+"` failed: .*did not answer", 30*time.Second)
	s.expect(`buttons: \[retry `+failed+`\]`, quick)
	s.as("alice", "retry "+failed)
	again := s.expect("^\\[reply\\] ✅ Queued as job `([0-9a-f]{8})`", quick)[1]
	if again == failed {
		t.Fatal("retry reused the failed job's id")
	}
	s.expect("❌ Job `"+again+"` failed", 30*time.Second)
}

// TestTheDoorRefusesWhatTheConfigurationCannotRun is issue 12's point 4:
// a command naming a target, storage, format or resource this
// configuration cannot run is answered at once, saying what is wrong, and
// nothing is queued (no job id, no job record).
func TestTheDoorRefusesWhatTheConfigurationCannotRun(t *testing.T) {
	s := newStack(t, true) // one storage (local), one target (data), no databases
	for _, tc := range []struct{ text, want string }{
		{"/backup create --target logs", "unknown target `logs`: the targets configured here are data"},
		{"/backup create --target dta", "did you mean `data`?"},
		{"/backup create --target data --storage s3", "no s3 storage is configured (configured: local)"},
		{"/backup list --storage azure", "no azure storage is configured"},
		{"/backup restore --name base --storage lcoal --preview", "did you mean `local`?"},
		{"/backup export --name base --format rar", "rar"},
		{"/backup snapshot --resource database", "no databases are configured here"},
		{"/backup snapshot --resource vm", "vm snapshots are not supported"},
		{"/backup schedule --action create --name nightly --cron \"0 2 * * *\" --target logs", "unknown target `logs`"},
	} {
		s.as("alice", tc.text)
		reply := s.expect(`^\[reply\] .*`, quick)[0]
		if !strings.HasPrefix(reply, "[reply] ⚠️") || !strings.Contains(reply, tc.want) || strings.Contains(reply, "job") {
			t.Errorf("%s: answered %q; want an immediate refusal with %q and no job", tc.text, reply, tc.want)
		}
	}
	if n := s.jobKeys(); n != 0 {
		t.Errorf("%d jobs were queued for commands refused at the door", n)
	}
	// What the configuration has still goes through.
	s.as("alice", "/backup create --target data --storage local")
	s.expect("^\\[reply\\] ✅ Queued as job `([0-9a-f]{8})`", quick)
}

// TestCleanupWaitsForItsRequestersConfirm is issue 12's point 5 in the
// console: cleanup without --force shows its dry run and deletes nothing
// until the requester (and only the requester) presses Confirm, which
// expires; with --force and an approval rule it waits for a second person.
func TestCleanupWaitsForItsRequestersConfirm(t *testing.T) {
	s := newStack(t, true)
	left := func(want int, when string) { // snapshots in the repository
		t.Helper()
		entries, err := os.ReadDir(filepath.Join(s.dir, "repo", "snapshots"))
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != want {
			t.Fatalf("%d snapshots %s, want %d", len(entries), when, want)
		}
	}
	for _, name := range []string{"first", "second", "third"} {
		s.as("alice", "/backup create --type full --target data --name "+name)
		s.expect(`✅ Backup `+name+` done`, 30*time.Second)
	}
	s.later.Store(int64(10 * 24 * time.Hour)) // the backups are ten days old now

	s.as("alice", "/backup cleanup --older-than 5 --keep-min 2")
	s.expect("^\\[reply\\] 🔎 Dry run of `cleanup --older-than 5 --keep-min 2` as job `[0-9a-f]{8}`: nothing is deleted until you press Confirm", quick)
	s.expect(`Would remove 1 backup from local and keep 2`, 30*time.Second)
	s.expect("press \\*Confirm\\* to run `cleanup --older-than 5 --keep-min 2`", quick)
	id := s.expect(`buttons: \[confirm ([0-9a-f]{8})\] \[cancel ([0-9a-f]{8})\]`, quick)[1]
	if ttl := s.rdb.TTL(s.ctx, "backupbot:confirm:"+id).Val(); ttl <= 0 || ttl > policy.DefaultApprovalTTL {
		t.Errorf("the confirmation expires in %s; want within %s", ttl, policy.DefaultApprovalTTL)
	}
	time.Sleep(300 * time.Millisecond)
	left(3, "after the dry run")

	s.as("carol", "confirm "+id)
	s.expect(`^\[reply\] ⛔ Only @alice, who asked for this cleanup, can confirm it\.`, quick)
	left(3, "after someone else's Confirm")
	s.as("alice", "confirm "+id)
	s.expect("^\\[reply\\] ▶️ Confirmed\\. Cleaning up as job `([0-9a-f]{8})`", quick)
	s.expect(`✅ Removed 1 backup from local, kept 2`, 30*time.Second)
	left(2, "after the confirmed cleanup")
	s.as("alice", "confirm "+id)
	s.expect(`^\[reply\] ⛔ there is no pending confirmation`, quick)

	// Canceled at its confirmation: nothing is removed.
	s.as("alice", "/backup cleanup --older-than 5 --keep-min 1")
	s.expect(`Would remove 1 backup from local and keep 1`, 30*time.Second)
	id = s.expect(`buttons: \[confirm ([0-9a-f]{8})\] \[cancel ([0-9a-f]{8})\]`, quick)[1]
	s.as("alice", "cancel "+id)
	s.expect(`^\[reply\] ✖️ Canceled; nothing was removed\.`, quick)
	left(2, "after a canceled cleanup")

	// --force skips the requester's confirmation; this policy wants a
	// second person's approval for it, exactly as for restore --force.
	s.as("alice", "/backup cleanup --older-than 5 --keep-min 1 --force")
	s.expect("^\\[reply\\] 🔐 `cleanup --older-than 5 --keep-min 1 --force` needs approval by a second person", quick)
	approvalID := s.expect("Approval `([0-9a-f]{8})` works once", quick)[1]
	s.as("alice", "approve "+approvalID)
	s.expect(`^\[reply\] ⛔ Refused: .*another person`, quick)
	time.Sleep(300 * time.Millisecond)
	left(2, "while the forced cleanup waits for approval")
	s.as("bob", "approve "+approvalID)
	s.expect("^\\[reply\\] 👍 Approved; job `[0-9a-f]{8}`", quick)
	s.expect(`✅ Removed 1 backup from local, kept 1`, 30*time.Second)
	left(1, "after the approved cleanup")
}

func TestConfirmationOfAWritingRestore(t *testing.T) {
	s := newStack(t, true)
	s.as("alice", "/backup create --type full --target data --name base")
	s.expect(`✅ Backup base done`, 30*time.Second)
	s.write("file-0.txt", "changed since the backup\n")

	s.as("alice", "/backup restore --name base --target data")
	s.expect("^\\[reply\\] 🔎 Previewing `restore --name base --target data` as job `([0-9a-f]{8})`", quick)
	s.expect(`✅ Restore preview of base`, 30*time.Second)
	id := s.expect(`buttons: \[confirm ([0-9a-f]{8})\] \[cancel ([0-9a-f]{8})\]`, quick)[1]

	s.as("carol", "confirm "+id)
	s.expect(`^\[reply\] ⛔ Only @alice, who asked for this restore, can confirm it\.`, quick)
	s.as("alice", "confirm "+id)
	s.expect("^\\[reply\\] ▶️ Confirmed\\. Restoring as job `([0-9a-f]{8})`", quick)
	s.expect(`✅ Restored`, 30*time.Second)
	s.as("alice", "confirm "+id)
	s.expect(`^\[reply\] ⛔ there is no pending confirmation`, quick)

	// A second restore, canceled at its confirmation, writes nothing.
	s.write("file-0.txt", "changed again\n")
	s.as("alice", "/backup restore --name base --target data")
	s.expect(`✅ Restore preview of base`, 30*time.Second)
	id = s.expect(`buttons: \[confirm ([0-9a-f]{8})\] \[cancel ([0-9a-f]{8})\]`, quick)[1]
	s.as("alice", "cancel "+id)
	s.expect(`^\[reply\] ✖️ Canceled; nothing was restored\.`, quick)
	if n := s.count(`✅ Restored`); n != 1 {
		t.Errorf("%d restores ran, want exactly the confirmed one", n)
	}
}

// TestApprovalFlowThroughTheConsole is issue 7's point 2 through the console
// adapter: self-approval refused, a non-approver refused, an expired
// approval refused, a changed plan invalidates, a replayed click refused,
// and a valid approval runs the restore exactly once.
func TestApprovalFlowThroughTheConsole(t *testing.T) {
	s := newStack(t, true)
	s.as("alice", "/backup create --type full --target data --name base")
	s.expect(`✅ Backup base done`, 30*time.Second)
	s.write("file-0.txt", "changed since the backup\n")

	request := func() string {
		t.Helper()
		s.as("alice", "/backup restore --name base --target data --force")
		s.expect("^\\[reply\\] 🔎 `restore --name base --target data --force` needs approval", quick)
		s.expect(`✅ Restore preview of base`, 30*time.Second)
		return s.expect(`buttons: \[approve ([0-9a-f]{8})\] \[deny ([0-9a-f]{8})\]`, quick)[1]
	}

	id := request()
	s.as("alice", "approve "+id)
	s.expect(`^\[reply\] ⛔ Refused: you cannot approve your own request`, quick)
	s.as("carol", "approve "+id)
	s.expect(`^\[reply\] ⛔ Refused: you do not hold an approver role`, quick)

	// The data changes after the preview: the approval no longer matches.
	s.write("file-1.txt", "also changed\n")
	s.as("bob", "approve "+id)
	s.expect(`^\[reply\] 🔎 Checking that the plan is unchanged`, quick)
	s.expect("⛔ Approval `"+id+"` by @bob refused: .*plan changed", 30*time.Second)
	s.as("bob", "approve "+id)
	s.expect(`^\[reply\] ⛔ Refused: the approval request was already decided \(`+id+` is stale`, quick)

	// Expired: the approval store's clock moves past the TTL.
	id = request()
	s.clockOff.Store(int64(31 * time.Minute))
	s.as("bob", "approve "+id)
	s.expect(`^\[reply\] ⛔ Refused: the approval request has expired`, quick)
	s.clockOff.Store(0)

	// Valid, clicked twice at once, then replayed: the restore runs once.
	id = request()
	done := make(chan struct{})
	go func() { defer close(done); s.typeAs("bob", "approve "+id) }()
	s.as("bob", "approve "+id)
	<-done
	s.expect("👍 Approved by @bob \\(plan unchanged\\)\\. Running `restore --name base --target data --force` as job `([0-9a-f]{8})`", 30*time.Second)
	s.expect(`✅ Restored`, 30*time.Second)
	s.as("bob", "approve "+id)
	s.expect(`^\[reply\] ⛔ Refused: the approval request was already decided \(`+id+` is approved by @bob\)`, quick)
	time.Sleep(500 * time.Millisecond) // let a losing concurrent check finish
	if n := s.count(`✅ Restored`); n != 1 {
		t.Errorf("the approved restore ran %d times, want exactly once", n)
	}
	if n := s.count(`👍 Approved by`); n != 1 {
		t.Errorf("%d approvals went through, want 1", n)
	}
	if strings.Contains(strings.Join(s.out.Lines(), "\n"), "panic") {
		t.Error("the transcript mentions a panic")
	}
}

// A command the policy marks for approval that has no preview (cleanup
// --force here) is asked for at once, and runs only after an approver says so.
func TestApprovalOfACommandWithoutPreview(t *testing.T) {
	s := newStack(t, true)
	s.as("alice", "/backup create --type full --target data --name base")
	s.expect(`✅ Backup base done`, 30*time.Second)
	before := s.jobKeys()
	s.as("alice", "/backup cleanup --older-than 30 --force")
	id := s.expect(`buttons: \[approve ([0-9a-f]{8})\] \[deny ([0-9a-f]{8})\]`, quick)[1]
	s.expect("^\\[reply\\] 🔐 `cleanup --older-than 30 --force` needs approval", quick)
	if after := s.jobKeys(); after != before {
		t.Fatalf("the cleanup was enqueued before its approval (%d job keys, was %d)", after, before)
	}
	s.as("carol", "approve "+id)
	s.expect(`^\[reply\] ⛔ Refused: you do not hold an approver role`, quick)
	s.as("bob", "approve "+id)
	s.expect("^\\[reply\\] 👍 Approved; job `([0-9a-f]{8})`", quick)
	s.expect(`✅ .*`, 30*time.Second)
	s.as("bob", "deny "+id)
	s.expect(`^\[reply\] ⛔ approval request `+id+` was already approved`, quick)
}

// A refused Approve click is told in the request's thread, not top-level.
func TestRefusedApproveIsPostedInTheRequestsThread(t *testing.T) {
	rdb := redisClient(t)
	quiet := silent()
	cfg := policy.DefaultConfig()
	cfg.Bindings = map[string][]string{"admin": {"slack:UALICE"}, "viewer": {"slack:UCAROL"}}
	cfg.Approval.Required = append(cfg.Approval.Required, policy.Rule{Actions: []string{"cleanup"}, Flags: map[string]bool{"force": true}})
	p, err := policy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	holder := policy.NewHolder(p)
	surface := &recordingSurface{}
	r := bot.NewRouter(bot.RouterOptions{
		Parser: commands.Parser{Targets: []string{"data"}, Storages: []string{"local"}}, Jobs: newJobClient(t, rdb, quiet), Redis: rdb, Policy: holder, Logger: quiet,
		Approvals: approval.New(rdb, holder, approval.Options{}),
		Surfaces:  map[bot.Platform]bot.Surface{bot.Slack: surface},
	})
	ctx := context.Background()
	reply := r.HandleCommand(ctx, bot.Incoming{From: bot.Identity{Platform: bot.Slack, UserID: "UALICE"}, Channel: "C0OPS", Text: "/backup cleanup --older-than 30 --force"})
	if !strings.Contains(reply.Message.Text, "needs approval") {
		t.Fatalf("reply %q", reply.Message.Text)
	}
	posts := surface.all()
	if len(posts) != 1 {
		t.Fatalf("posts: %+v", posts)
	}
	request := bot.MessageRef{Channel: "C0OPS", ID: "m1"}
	var id string
	for _, f := range strings.Fields(posts[0].text) {
		if strings.HasPrefix(f, "`") && len(f) == 10 {
			id = strings.Trim(f, "`")
		}
	}
	if id == "" {
		t.Fatalf("no approval id in %q", posts[0].text)
	}
	for _, who := range []string{"UALICE", "UCAROL"} { // the requester, then a non-approver
		reply = r.HandleClick(ctx, bot.Click{From: bot.Identity{Platform: bot.Slack, UserID: who}, Message: request, ActionID: bot.ActionApprove, Value: id})
		if !strings.Contains(reply.Message.Text, "Refused") {
			t.Fatalf("click by %s: %q", who, reply.Message.Text)
		}
		posts := surface.all()
		last := posts[len(posts)-1]
		if !strings.Contains(last.text, "tried to approve") || last.thread != "m1" || last.channel != "C0OPS" {
			t.Errorf("the refusal of %s went to channel %q thread %q, want the request's thread m1: %q", who, last.channel, last.thread, last.text)
		}
	}
}

// Issue 11's point 6 through the router: a Slack user with the operator
// role is refused `create --path /tmp/x` and `restore --to /etc` under the
// default policy, and a rule granting those prefixes lets them through.
func TestOperatorPathsThroughTheRouter(t *testing.T) {
	rdb := redisClient(t)
	quiet := silent()
	client := newJobClient(t, rdb, quiet)
	router := func(extra ...policy.Rule) *bot.Router {
		cfg := policy.DefaultConfig()
		cfg.Bindings = map[string][]string{"operator": {"slack:U0OP"}}
		cfg.Roles["operator"] = append(cfg.Roles["operator"], extra...)
		p, err := policy.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		holder := policy.NewHolder(p.WithLocations([]string{"/srv/repo", "/srv/data"}))
		return bot.NewRouter(bot.RouterOptions{
			Parser: commands.Parser{Targets: []string{"data"}, Storages: []string{"local"}}, Jobs: client, Redis: rdb,
			Policy: holder, Logger: quiet, Surfaces: map[bot.Platform]bot.Surface{bot.Slack: &recordingSurface{}},
		})
	}
	in := func(text string) bot.Incoming {
		return bot.Incoming{From: bot.Identity{Platform: bot.Slack, UserID: "U0OP"}, Channel: "C0OPS", Text: text}
	}
	ctx := context.Background()
	create := "/backup create --storage local --path /tmp/x --target data"
	restore := "/backup restore --name nightly --target data --to /etc --preview"

	def := router()
	for _, text := range []string{create, restore} {
		if got := def.HandleCommand(ctx, in(text)).Message.Text; !strings.HasPrefix(got, "⛔ Not allowed") || !strings.Contains(got, "location") {
			t.Errorf("default policy: %q answered %q, want a refusal naming the location", text, got)
		}
	}
	granted := router(policy.Rule{Actions: []string{"create", "restore"}, Paths: []string{"/tmp/x", "/etc"}})
	for _, text := range []string{create, restore} {
		if got := granted.HandleCommand(ctx, in(text)).Message.Text; strings.HasPrefix(got, "⛔") {
			t.Errorf("with paths granted: %q answered %q", text, got)
		}
	}
}
