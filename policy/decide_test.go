package policy

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commands"
)

func loadTestPolicy(t *testing.T) *Policy {
	t.Helper()
	p, err := LoadFile("testdata/policy.yaml")
	if err != nil {
		t.Fatalf("loading testdata/policy.yaml: %v", err)
	}
	return p
}

func slackUser(id string, groups ...string) Identity {
	return Identity{Platform: PlatformSlack, UserID: id, UserName: strings.ToLower(id), Groups: groups}
}

func discordUser(id string, roles ...string) Identity {
	return Identity{Platform: PlatformDiscord, UserID: id, Groups: roles}
}

func consoleUser(name string, groups ...string) Identity {
	return Identity{Platform: PlatformConsole, UserID: name, UserName: name, Groups: groups}
}

func restore(target string, flags ...string) *commands.Restore {
	return &commands.Restore{Name: "nightly", Target: target, Preview: slices.Contains(flags, "preview"), Force: slices.Contains(flags, "force")}
}

func cleanup(flags ...string) *commands.Cleanup {
	return &commands.Cleanup{OlderThan: 30, Force: slices.Contains(flags, "force"), DryRun: slices.Contains(flags, "dry-run")}
}

func create(typ commands.BackupType, target, storage string) *commands.Create {
	return &commands.Create{Type: typ, Target: target, Compress: true, Storage: commands.StorageRef{Name: storage}}
}

func TestDecideTable(t *testing.T) {
	p := loadTestPolicy(t)

	var (
		anon       = slackUser("UNOBODY")
		ops        = slackUser("U1", "S0OPS")
		restorer   = slackUser("URESTORE")
		approver   = slackUser("UAPPROVE")
		oncall     = slackUser("U9", "oncall")
		admin      = slackUser("UADMIN")
		contractor = slackUser("UCONTRACT")
		croot      = consoleUser("root")
		calice     = consoleUser("alice", "ops")
		dop        = discordUser("333", "5678")
		dadmin     = discordUser("444", "9999")
		dnobody    = discordUser("555")
		dauditor   = discordUser("222")
		drestorer  = discordUser("111")
	)
	const (
		general = "#general"
		ops_    = "#ops"
	)
	// verdicts
	type want struct {
		allowed      bool
		rule         string
		approval     bool
		confirmation bool
		reason       string // a substring of Reason, when set
	}
	allow := func(rule string) want { return want{allowed: true, rule: rule} }
	deny := func(rule, reason string) want { return want{rule: rule, reason: reason} }
	withApproval := func(w want) want { w.approval = true; return w }
	withConfirm := func(w want) want { w.confirmation = true; return w }

	cases := []struct {
		name    string
		id      Identity
		channel string
		cmd     commands.Command
		want    want
	}{
		// Everyone on Slack and the console is a viewer.
		{"slack user reads help", anon, general, &commands.Help{}, allow("role viewer rule 1")},
		{"slack user reads status", anon, general, &commands.Status{JobID: "8f3a"}, allow("role viewer rule 1")},
		{"slack user lists", anon, general, &commands.List{}, allow("role viewer rule 1")},
		{"slack user lists pending approvals", anon, general, &commands.Approvals{}, allow("role viewer rule 1")},
		{"slack user withdraws own approval", anon, general, &commands.Approvals{Withdraw: "ab12cd34"}, allow("role viewer rule 1")},
		{"viewer cannot create", anon, general, create(commands.TypeFull, "data", ""), deny(RuleDefaultDeny, "needs the role admin or operator; you have viewer")},
		{"viewer cannot preview a restore", anon, general, restore("data", "preview"), deny(RuleDefaultDeny, "needs the role admin or operator or restorer")},
		{"viewer cannot read the audit log", anon, general, &commands.Audit{}, deny(RuleDefaultDeny, "needs the role admin or approver or auditor")},
		{"viewer cannot cancel", anon, general, &commands.Cancel{JobID: "8f3a"}, deny(RuleDefaultDeny, "operator")},

		// Operator via Slack user group.
		{"operator (slack group) creates", ops, general, create(commands.TypeFull, "data", ""), allow("role operator rule 1")},
		{"operator still lists as viewer", ops, general, &commands.List{}, allow("role viewer rule 1")},
		{"operator previews a restore", ops, general, restore("data", "preview"), allow("role operator rule 2")},
		{"operator cannot write a restore", ops, general, restore("data"), deny(RuleDefaultDeny, "needs the role admin or restorer; you have operator, viewer")},
		{"operator cleans up", ops, general, cleanup(), allow("role operator rule 3")},
		{"operator cleans up dry-run", ops, general, cleanup("dry-run"), allow("role operator rule 3")},
		{"cleanup --force only for admin", ops, general, cleanup("force"), deny(RuleDefaultDeny, "`cleanup --force` needs the role admin;")},
		{"operator verifies with fix", ops, general, &commands.Verify{All: true, Fix: true}, allow("role operator rule 1")},
		{"operator snapshots a database", ops, general, &commands.Snapshot{Resource: commands.ResourceDatabase}, allow("role operator rule 1")},
		{"operator cancels", ops, general, &commands.Cancel{JobID: "8f3a"}, allow("role operator rule 1")},
		{"operator schedules", ops, general, &commands.Schedule{Op: commands.ScheduleCreate, Name: "daily", Cron: "0 2 * * *"}, allow("role operator rule 1")},
		{"operator exports", ops, general, &commands.Export{Name: "x", Format: commands.FormatZip}, allow("role operator rule 1")},
		{"operator tests a storage", ops, general, &commands.Test{Storage: commands.StorageRef{Name: "local"}}, allow("role operator rule 1")},
		{"operator cannot read audit", ops, general, &commands.Audit{}, deny(RuleDefaultDeny, "approver")},

		// Restorer: data anywhere, config only in #ops.
		{"restorer writes data, asked to confirm", restorer, general, restore("data"), withConfirm(allow("role restorer rule 1"))},
		{"restorer restores config in #ops", restorer, ops_, restore("config"), withConfirm(allow("role restorer rule 2"))},
		{"restore of config only in #ops", restorer, general, restore("config"), deny(RuleDefaultDeny, "allowed for your role restorer only in #ops (this is #general)")},
		{"channel without # matches", restorer, "ops", restore("config"), withConfirm(allow("role restorer rule 2"))},
		{"channel case does not matter", restorer, "#OPS", restore("config"), withConfirm(allow("role restorer rule 2"))},
		{"forced restore needs approval", restorer, general, restore("data", "force"), withApproval(allow("role restorer rule 1"))},
		{"forced config restore in #ops needs approval", restorer, ops_, restore("config", "force"), withApproval(allow("role restorer rule 2"))},
		{"restorer previews data without confirmation", restorer, general, restore("data", "preview"), allow("role restorer rule 1")},
		{"restore of all targets is admin only", restorer, ops_, restore(""), deny(RuleDefaultDeny, "needs the role admin;")},
		{"restorer cannot create", restorer, general, create(commands.TypeIncremental, "data", ""), deny(RuleDefaultDeny, "admin or operator")},
		{"restorer cannot clean up", restorer, general, cleanup(), deny(RuleDefaultDeny, "admin or operator")},
		{"discord restorer by user id", drestorer, general, restore("logs"), withConfirm(allow("role restorer rule 1"))},

		// Approvers, by user id and by Slack group handle.
		{"approver reads audit", approver, general, &commands.Audit{Age: 7}, allow("role approver rule 1")},
		{"approver lists approvals by own role", approver, general, &commands.Approvals{}, allow("role approver rule 1")},
		{"approver cannot restore", approver, general, restore("data"), deny(RuleDefaultDeny, "admin or restorer")},
		{"approver via group handle reads audit", oncall, general, &commands.Audit{User: "alice"}, allow("role approver rule 1")},

		// Admins.
		{"admin forces cleanup, needs approval", admin, general, cleanup("force"), withApproval(allow("role admin rule 1"))},
		{"admin restores config anywhere", admin, general, restore("config"), withConfirm(allow("role admin rule 1"))},
		{"admin forced config restore", admin, general, restore("config", "force"), withApproval(allow("role admin rule 1"))},
		{"admin reads audit", admin, general, &commands.Audit{}, allow("role admin rule 1")},
		{"admin restores all", admin, ops_, restore(""), withConfirm(allow("role admin rule 1"))},
		{"console root is admin", croot, "console", cleanup("force"), withApproval(allow("role admin rule 1"))},
		{"console root previews without confirmation", croot, "console", restore("data", "preview"), allow("role admin rule 1")},
		{"discord guild role admin", dadmin, general, restore("config", "force"), withApproval(allow("role admin rule 1"))},
		{"discord admin reads help", dadmin, general, &commands.Help{}, allow("role admin rule 1")},

		// Console groups.
		{"console group operator creates", calice, "console", create(commands.TypeFull, "all", ""), allow("role operator rule 1")},
		{"console operator cannot force cleanup", calice, "console", cleanup("force"), deny(RuleDefaultDeny, "needs the role admin")},
		{"console user is a viewer", calice, "console", &commands.Help{Topic: "restore"}, allow("role viewer rule 1")},

		// Discord: no role for everyone.
		{"discord role operator creates", dop, general, create(commands.TypeFull, "data", "local"), allow("role operator rule 1")},
		{"discord operator is not a viewer", dop, general, &commands.Approvals{}, deny(RuleDefaultDeny, "needs the role admin or approver or viewer; you have operator. Your ID is discord:333; an admin can give you the role by adding \"discord:333\" to policy.bindings.approver")},
		{"discord operator reads help all the same", dop, general, &commands.Help{}, allow(RuleHelpForEveryone)},
		{"discord user without roles: help", dnobody, general, &commands.Help{}, allow(RuleHelpForEveryone)},
		{"discord user without roles: create", dnobody, general, create(commands.TypeFull, "data", ""), deny(RuleDefaultDeny, "you hold no role")},

		// Explicit deny overrides allow.
		{"auditor reads audit in #ops", dauditor, ops_, &commands.Audit{}, allow("role auditor rule 1")},
		{"auditor denied audit in #general", dauditor, general, &commands.Audit{}, deny("role auditor rule 2 (deny)", "forbidden for role auditor")},
		{"auditor deny matches channel without #", dauditor, "general", &commands.Audit{}, deny("role auditor rule 2 (deny)", "")},

		// Conditions on storage, type, target, resource.
		{"contractor creates incremental on local", contractor, general, create(commands.TypeIncremental, "data", "local"), allow("role contractor rule 1")},
		{"contractor cannot create full", contractor, general, create(commands.TypeFull, "data", "local"), deny(RuleDefaultDeny, "admin or operator")},
		{"contractor cannot use default storage", contractor, general, create(commands.TypeIncremental, "data", ""), deny(RuleDefaultDeny, "")},
		{"contractor deny rule on config target", contractor, general, create(commands.TypeIncremental, "config", "local"), deny("role contractor rule 3 (deny)", "")},
		{"contractor snapshots vms", contractor, general, &commands.Snapshot{Resource: commands.ResourceVM}, allow("role contractor rule 2")},
		{"contractor cannot snapshot databases", contractor, general, &commands.Snapshot{Resource: commands.ResourceDatabase}, deny(RuleDefaultDeny, "admin or operator")},
		{"contractor list falls through to viewer", contractor, general, &commands.List{Storage: commands.StorageRef{Name: "local"}}, allow("role viewer rule 1")},
		{"contractor lists incremental on local", contractor, general, &commands.List{Storage: commands.StorageRef{Name: "local"}, Type: commands.TypeIncremental}, allow("role contractor rule 1")},

		{"no command", admin, general, nil, deny(RuleDefaultDeny, "no command")},
	}
	if len(cases) < 50 {
		t.Fatalf("the table has %d decisions; issue 7 asks for at least 50", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := p.Decide(tc.id, tc.channel, tc.cmd)
			if d.Allowed != tc.want.allowed || d.Rule != tc.want.rule {
				t.Errorf("Decide(%s, %q) = allowed %v by %q; want allowed %v by %q (reason %q)",
					tc.id, tc.channel, d.Allowed, d.Rule, tc.want.allowed, tc.want.rule, d.Reason)
			}
			if d.NeedsApproval != tc.want.approval || d.NeedsConfirmation != tc.want.confirmation {
				t.Errorf("needs approval %v, confirmation %v; want %v, %v", d.NeedsApproval, d.NeedsConfirmation, tc.want.approval, tc.want.confirmation)
			}
			if !strings.Contains(d.Reason, tc.want.reason) {
				t.Errorf("reason %q does not contain %q", d.Reason, tc.want.reason)
			}
		})
	}
}

func TestDefaultPolicy(t *testing.T) {
	p := Default()
	console := consoleUser(os.Getenv("USER"))
	if d := p.Decide(console, "console", restore("data", "force")); !d.Allowed || !d.NeedsApproval || d.Rule != "role admin rule 1" {
		t.Errorf("console user: %+v; want restore --force allowed as admin with approval", d)
	}
	if d := p.Decide(console, "console", cleanup("force")); !d.Allowed || d.NeedsApproval {
		t.Errorf("console user: %+v; want cleanup --force allowed without approval (not configured by default)", d)
	}
	if d := p.Decide(console, "console", restore("data")); !d.Allowed || !d.NeedsConfirmation {
		t.Errorf("console restore: %+v; want allowed with confirmation", d)
	}
	if d := p.Decide(slackUser("U1"), "#general", &commands.List{}); d.Allowed {
		t.Errorf("a Slack user is allowed by the default policy: %+v", d)
	}
	if d := p.Decide(slackUser("U1"), "#general", &commands.Help{}); !d.Allowed || d.Rule != RuleHelpForEveryone {
		t.Errorf("a Slack user without a role asking for help: %+v; want allowed by %q", d, RuleHelpForEveryone)
	}
	if d := p.Decide(Identity{Platform: PlatformSlack}, "#general", &commands.Help{}); d.Allowed {
		t.Errorf("help for an identity with no user id (not authenticated): %+v; want denied", d)
	}
	if got := p.ApprovalTTL(); got != 30*time.Minute {
		t.Errorf("default approval TTL %s; want 30m", got)
	}
	if !p.CanApprove(console) || p.CanApprove(slackUser("U1")) {
		t.Error("default approvers: console users should be, Slack users should not be")
	}
}

func TestRecheckAfterRoleRemoved(t *testing.T) {
	before := loadTestPolicy(t)
	cfg := before.Config()
	cfg.Bindings["restorer"] = []string{"discord:111"} // slack:URESTORE removed
	after, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	u := slackUser("URESTORE")
	cmd := restore("data")
	if err := before.Recheck("8f3a", u, "#general", cmd); err != nil {
		t.Fatalf("before the change: %v", err)
	}
	err = after.Recheck("8f3a", u, "#general", cmd)
	if !errors.Is(err, ErrNoLongerAllowed) {
		t.Fatalf("after the change: got %v; want ErrNoLongerAllowed", err)
	}
	for _, want := range []string{"job 8f3a was not run", "@urestore is no longer allowed", "restore --target data", "needs the role admin or restorer", "default deny"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not contain %q", err, want)
		}
	}
}

func TestPlanHash(t *testing.T) {
	plan := []byte(`{"files":12,"bytes":3400}`)
	a := PlanHash(restore("data", "force"), plan)
	if a != PlanHash(restore("data", "force"), plan) {
		t.Error("the same command and plan hash differently")
	}
	if a == PlanHash(restore("data", "force"), []byte(`{"files":13,"bytes":3400}`)) {
		t.Error("a changed plan keeps the same hash")
	}
	if a == PlanHash(restore("config", "force"), plan) {
		t.Error("a changed command keeps the same hash")
	}
	if a == PlanHash(cleanup("force"), plan) {
		t.Error("a different action keeps the same hash")
	}
}

func TestIdentitySubjects(t *testing.T) {
	got := discordUser("42", "777").Subjects()
	want := []string{"*", "discord:*", "discord:42", "discord-group:777", "discord-role:777"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Subjects() = %v; want %v", got, want)
	}
}

// The router decides every command before enqueueing it; the worker
// decides again with policy.Recheck before doing the work.
func ExamplePolicy_Decide() {
	p, _ := New(Config{
		Roles: map[string][]Rule{
			"viewer":   {{Actions: []string{"help", "list", "status"}}},
			"restorer": {{Actions: []string{"restore"}, Targets: []string{"config"}, Channels: []string{"#ops"}}},
		},
		Bindings: map[string][]string{
			"viewer":   {"slack:*"},
			"restorer": {"slack-group:S0OPS"},
		},
	})
	alice := Identity{Platform: "slack", UserID: "U1", UserName: "alice", Groups: []string{"S0OPS"}}
	bob := Identity{Platform: "slack", UserID: "U2", UserName: "bob"}
	cmd := &commands.Restore{Name: "nightly", Target: "config"}

	for _, c := range []struct {
		who     Identity
		channel string
	}{{alice, "#ops"}, {alice, "#general"}, {bob, "#ops"}} {
		d := p.Decide(c.who, c.channel, cmd)
		fmt.Printf("%s in %s: allowed=%v confirm=%v by %q\n  %s\n", c.who.Display(), c.channel, d.Allowed, d.NeedsConfirmation, d.Rule, d.Reason)
	}
	// Output:
	// @alice in #ops: allowed=true confirm=true by "role restorer rule 1"
	//   `restore --target config` is allowed by role restorer
	// @alice in #general: allowed=false confirm=false by "default deny"
	//   `restore --target config` is allowed for your role restorer only in #ops (this is #general)
	// @bob in #ops: allowed=false confirm=false by "default deny"
	//   `restore --target config` needs the role restorer; you have viewer. Your ID is slack:U2; an admin can give you the role by adding "slack:U2" to policy.bindings.restorer in the configuration
}

// Slack reports a channel by ID; its adapter passes "ID|name" so that a
// rule written with the channel's name ("#ops") or its ID both match.
func TestChannelRuleMatchesIDOrName(t *testing.T) {
	p := loadTestPolicy(t)
	restorer := slackUser("URESTORE")
	for _, tc := range []struct {
		channel string
		allowed bool
	}{
		{"C0OPS|ops", true},
		{"C0OPS|OPS", true},
		{"#ops", true},
		{"C0OPS", false}, // the ID alone names no rule's channel here
		{"C0GEN|general", false},
	} {
		d := p.Decide(restorer, tc.channel, restore("config"))
		if d.Allowed != tc.allowed {
			t.Errorf("restore --target config in %q: allowed=%v (%s), want %v", tc.channel, d.Allowed, d.Rule, tc.allowed)
		}
	}
}
