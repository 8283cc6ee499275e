package audit_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/policy/approval"
	"github.com/backupbot/backupbot/policy/audit"
	"github.com/backupbot/backupbot/policy/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// Secrets the session's environment holds; none may reach the log.
const (
	slackToken   = "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx"
	appToken     = "xapp-1-A0123456789-1234567890123-abcdef0123456789"
	repoPassword = "correct horse battery staple 42"
	filePassword = "s3cr3t-from-a-password-file"
	discordToken = "MTA5ODc2NTQzMjEwOTg3NjU0.GhIjKl.abcdefghijklmnopqrstuvwxyz0123"
)

var (
	restorer = policy.Identity{Platform: "slack", UserID: "URESTORE", UserName: "rita"}
	ops      = policy.Identity{Platform: "slack", UserID: "U1", UserName: "otto", Groups: []string{"S0OPS"}}
	viewer   = policy.Identity{Platform: "slack", UserID: "U2", UserName: "vera"}
	admin    = policy.Identity{Platform: "slack", UserID: "UADMIN", UserName: "ada"}
	approver = policy.Identity{Platform: "slack", UserID: "UAPPROVE", UserName: "alex"}
	nobody   = policy.Identity{Platform: "discord", UserID: "555"}
)

// step is one command of the scripted session.
type step struct {
	who     policy.Identity
	channel string
	cmd     commands.Command
	// text is what the router would render; some steps smuggle a secret in
	// to prove the redaction pass.
	text string
	// fail makes the job fail with this error (which may contain a secret).
	fail string
	// deny makes the approver deny instead of approve.
	deny bool
}

func session() []step {
	data := &commands.Restore{Name: "nightly", Target: "data"}
	forced := &commands.Restore{Name: "nightly", Target: "data", Force: true}
	return []step{
		{who: viewer, channel: "#general", cmd: &commands.List{}, text: "list"},
		{who: viewer, channel: "#general", cmd: &commands.Create{Type: "full", Target: "data"}, text: "create --type full --target data"},
		{who: ops, channel: "#general", cmd: &commands.Create{Type: "full", Target: "data"}, text: "create --type full --target data"},
		{who: ops, channel: "#general", cmd: &commands.Create{Type: "incremental", Target: "config", Name: slackToken}, text: "create --target config --name " + slackToken},
		{who: ops, channel: "#general", cmd: &commands.Verify{All: true}, text: "verify --all", fail: "pack 3f2a is corrupt (repository password " + repoPassword + ")"},
		{who: ops, channel: "#general", cmd: &commands.Cleanup{OlderThan: 90, DryRun: true}, text: "cleanup --older-than 90 --dry-run"},
		{who: ops, channel: "#general", cmd: &commands.Cleanup{Force: true}, text: "cleanup --force"},
		{who: restorer, channel: "#general", cmd: data, text: "restore --name nightly --target data"},
		{who: restorer, channel: "#general", cmd: &commands.Restore{Name: "nightly", Target: "config"}, text: "restore --name nightly --target config"},
		{who: restorer, channel: "#ops", cmd: &commands.Restore{Name: "nightly", Target: "config"}, text: "restore --name nightly --target config"},
		{who: restorer, channel: "#general", cmd: forced, text: "restore --name nightly --target data --force"},
		{who: restorer, channel: "#general", cmd: forced, text: "restore --name nightly --target data --force", deny: true},
		{who: admin, channel: "#general", cmd: &commands.Audit{Age: 7}, text: "audit --age 7"},
		{who: approver, channel: "#general", cmd: &commands.Audit{User: "rita"}, text: "audit --user rita"},
		{who: nobody, channel: "#general", cmd: &commands.List{}, text: "list"}, // help is open to everyone; list is not
		{who: nobody, channel: "#general", cmd: &commands.Create{Type: "full"}, text: "create --type full"},
		{who: viewer, channel: "#general", cmd: &commands.Status{JobID: "00000001"}, text: "status 00000001"},
		{who: viewer, channel: "#general", cmd: &commands.Approvals{}, text: "approvals"},
		{who: ops, channel: "#general", cmd: &commands.Snapshot{Resource: "database"}, text: "snapshot --resource database", fail: "pg_dump: password authentication failed; DSN postgres://backup:" + filePassword + "@db/app"},
		{who: ops, channel: "#general", cmd: &commands.Test{Storage: commands.StorageRef{Name: "offsite"}}, text: "test --storage offsite", fail: "s3: 403 with Authorization: Bot " + discordToken},
		{who: ops, channel: "#general", cmd: &commands.Export{Name: "nightly", Format: "zip"}, text: "export --name nightly --format zip"},
		{who: ops, channel: "#general", cmd: &commands.Schedule{Op: "create", Name: "daily", Cron: "0 2 * * *"}, text: `schedule --action create --name daily --cron "0 2 * * *"`},
		{who: admin, channel: "#general", cmd: &commands.Cleanup{Force: true}, text: "cleanup --force"},
		{who: admin, channel: "#general", cmd: &commands.Restore{Target: "config", Preview: true}, text: "restore --target config --preview"},
		{who: viewer, channel: "#general", cmd: &commands.Cancel{JobID: "00000003"}, text: "cancel 00000003"},
		{who: ops, channel: "#general", cmd: &commands.Cancel{JobID: "00000003"}, text: "cancel 00000003"},
		{who: restorer, channel: "#general", cmd: &commands.Restore{Name: "nightly", Target: "logs"}, text: "restore --name nightly --target logs token=" + appToken, fail: "disk full"},
		{who: restorer, channel: "#general", cmd: &commands.Restore{Target: "all"}, text: "restore --target all"},
		{who: ops, channel: "#general", cmd: &commands.Analyze{Name: "nightly", Performance: true}, text: "analyze --name nightly --performance"},
		{who: viewer, channel: "#general", cmd: &commands.Help{Topic: "restore"}, text: "help restore"},
	}
}

// runsAsJob says which actions the router answers itself rather than
// enqueueing (no job start/outcome entries for those).
func runsAsJob(a commands.Action) bool {
	switch a {
	case commands.ActionHelp, commands.ActionStatus, commands.ActionApprovals, commands.ActionAudit, commands.ActionCancel:
		return false
	}
	return true
}

func TestScriptedSessionIsAuditedExactlyOnceAndWithoutSecrets(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ctx := context.Background()

	pwFile := filepath.Join(t.TempDir(), "repo-password")
	if err := os.WriteFile(pwFile, []byte(filePassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLACK_BOT_TOKEN", slackToken)
	t.Setenv("BACKUPBOT_REPO_PASSWORD", repoPassword)
	t.Setenv("BACKUPBOT_REPO_PASSWORD_FILE", pwFile)

	p, err := policy.LoadFile("../testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	holder := policy.NewHolder(p)
	approvals := approval.New(rdb, holder, approval.Options{Prefix: prefix})

	file := filepath.Join(t.TempDir(), "audit", "audit.jsonl")
	opts := audit.OptionsFromConfig(policy.AuditConfig{File: file})
	opts.Prefix = prefix
	log, err := audit.New(rdb, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()

	steps := session()
	if len(steps) != 30 {
		t.Fatalf("the session has %d commands; want 30", len(steps))
	}
	// want is every event the session produces, in order.
	var want []audit.Entry
	record := func(e audit.Entry) {
		t.Helper()
		if err := log.Record(ctx, e); err != nil {
			t.Fatalf("Record(%s): %v", e.Kind, err)
		}
		want = append(want, e)
	}
	denied, approved, failed, jobs := 0, 0, 0, 0
	for i, s := range steps {
		d := holder.Decide(s.who, s.channel, s.cmd)
		record(audit.Decided(s.who, s.channel, s.text, s.cmd, d))
		if !d.Allowed {
			denied++
			continue
		}
		if d.NeedsConfirmation {
			record(audit.Entry{Kind: audit.Confirmed, User: s.who, Channel: s.channel, Command: s.text, Action: string(s.cmd.Action())})
		}
		if d.NeedsApproval {
			hash := policy.PlanHash(s.cmd, []byte("plan"))
			a, err := approvals.Request(ctx, approval.Request{Requester: s.who, Channel: s.channel, Command: s.cmd, Text: s.text, PlanHash: hash})
			if err != nil {
				t.Fatal(err)
			}
			record(audit.Entry{Kind: audit.ApprovalRequested, User: s.who, Channel: s.channel, Command: s.text, ApprovalID: a.ID, Detail: "plan " + hash[:12]})
			if s.deny {
				if _, err := approvals.Deny(ctx, a.ID, approver); err != nil {
					t.Fatal(err)
				}
				record(audit.Entry{Kind: audit.Denied, User: approver, Channel: s.channel, Command: s.text, ApprovalID: a.ID})
				continue
			}
			// The requester tries first and is refused; then the approver.
			if _, err := approvals.Approve(ctx, a.ID, s.who, hash); !errors.Is(err, approval.ErrSelfApproval) {
				t.Fatalf("self-approval: %v", err)
			} else {
				record(audit.Entry{Kind: audit.ApprovalRefused, User: s.who, Channel: s.channel, ApprovalID: a.ID, Error: err.Error()})
			}
			if _, err := approvals.Approve(ctx, a.ID, approver, hash); err != nil {
				t.Fatal(err)
			}
			approved++
			record(audit.Entry{Kind: audit.Approved, User: approver, Channel: s.channel, Command: s.text, ApprovalID: a.ID})
		}
		if !runsAsJob(s.cmd.Action()) {
			continue
		}
		jobs++
		job := fmt.Sprintf("%08x", i)
		record(audit.Entry{Kind: audit.JobStarted, User: s.who, Channel: s.channel, Command: s.text, Action: string(s.cmd.Action()), JobID: job})
		if s.fail != "" {
			failed++
			record(audit.Entry{Kind: audit.JobFailed, User: s.who, Channel: s.channel, Command: s.text, JobID: job, Error: s.fail})
		} else {
			record(audit.Entry{Kind: audit.JobSucceeded, User: s.who, Channel: s.channel, Command: s.text, JobID: job, Detail: "done"})
		}
	}
	// The session covers every kind of outcome the issue names.
	if denied != 7 || approved != 2 || failed != 4 || jobs != 16 {
		t.Fatalf("session shape: %d denied, %d approved, %d failed, %d jobs; want 7, 2, 4, 16", denied, approved, failed, jobs)
	}

	t.Logf("session: 30 commands, %d denied, %d approved, %d failed jobs, %d jobs: %d audit events", denied, approved, failed, jobs, len(want))
	fromFile, err := audit.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	fromStream, err := log.Query(ctx, audit.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]audit.Entry{"file": fromFile, "stream": fromStream} {
		if len(got) != len(want) {
			t.Fatalf("%s holds %d entries; want exactly %d (one per event)", name, len(got), len(want))
		}
		ids := map[string]bool{}
		for i, g := range got {
			w := want[i]
			if ids[g.ID] || g.ID == "" {
				t.Errorf("%s entry %d: id %q is empty or repeated", name, i, g.ID)
			}
			ids[g.ID] = true
			if g.Kind != w.Kind || g.User.UserID != w.User.UserID || g.User.Platform != w.User.Platform ||
				g.Channel != w.Channel || g.JobID != w.JobID || g.ApprovalID != w.ApprovalID || g.Time.IsZero() {
				t.Errorf("%s entry %d = %+v; want %+v", name, i, g, w)
			}
			if w.Allowed != nil && (g.Allowed == nil || *g.Allowed != *w.Allowed || g.Rule != w.Rule || g.Rule == "") {
				t.Errorf("%s entry %d: decision %v by %q; want %v by %q", name, i, g.Allowed, g.Rule, *w.Allowed, w.Rule)
			}
		}
		if strings.Join(idsOf(fromFile), ",") != strings.Join(idsOf(fromStream), ",") {
			t.Errorf("the file and the stream hold different entries")
		}
	}

	// Grep both stores, raw, for every configured secret.
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	streamRaw := rawStream(t, rdb, prefix+"audit")
	secrets := []string{slackToken, appToken, repoPassword, filePassword, discordToken}
	for _, s := range secrets {
		if strings.Contains(string(raw), s) {
			t.Errorf("the audit file contains the secret %q", s[:6]+"…")
		}
		if strings.Contains(streamRaw, s) {
			t.Errorf("the audit stream contains the secret %q", s[:6]+"…")
		}
	}
	if !strings.Contains(string(raw), audit.Redacted) {
		t.Error("nothing was redacted: the session smuggles secrets in, so [REDACTED] should appear")
	}
	if info, err := os.Stat(file); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("audit file mode %v, %v; want 0600", info.Mode().Perm(), err)
	}
}

func idsOf(es []audit.Entry) []string {
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}

func rawStream(t *testing.T, rdb redis.UniversalClient, key string) string {
	t.Helper()
	msgs, err := rdb.XRange(context.Background(), key, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, m := range msgs {
		fmt.Fprintln(&b, m.Values)
	}
	return b.String()
}

func TestQueryFilters(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ctx := context.Background()
	clock := redistest.NewClock()
	for _, tc := range []struct {
		name string
		rdb  redis.UniversalClient
		file string
	}{
		{"stream", rdb, "-"},
		{"file only", nil, filepath.Join(t.TempDir(), "audit.jsonl")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log, err := audit.New(tc.rdb, audit.Options{Prefix: prefix + tc.name + ":", File: tc.file, Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			defer log.Close()
			start := clock.Now()
			users := []policy.Identity{viewer, ops, restorer}
			for i := range 30 {
				clock.Advance(time.Hour)
				e := audit.Entry{Kind: audit.Command, User: users[i%3], Command: fmt.Sprintf("list --age %d", i)}
				if err := log.Record(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			cases := []struct {
				f     audit.Filter
				count int
				first string
			}{
				{audit.Filter{}, 30, "list --age 0"},
				{audit.Filter{Limit: 5}, 5, "list --age 25"},
				{audit.Filter{User: "otto"}, 10, "list --age 1"},
				{audit.Filter{User: "@Otto"}, 10, "list --age 1"},
				{audit.Filter{User: "slack:URESTORE", Limit: 2}, 2, "list --age 26"},
				{audit.Filter{Since: start.Add(25 * time.Hour)}, 6, "list --age 24"},
				{audit.Filter{Since: start.Add(25 * time.Hour), User: "vera"}, 2, "list --age 24"},
				{audit.Filter{User: "nobody"}, 0, ""},
			}
			for _, c := range cases {
				got, err := log.Query(ctx, c.f)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != c.count || (c.count > 0 && got[0].Command != c.first) {
					first := ""
					if len(got) > 0 {
						first = got[0].Command
					}
					t.Errorf("Query(%+v): %d entries starting %q; want %d starting %q", c.f, len(got), first, c.count, c.first)
				}
			}
		})
	}
}

func TestRedactor(t *testing.T) {
	r := audit.NewRedactor([]string{"hunter2-long", "x"})
	cases := []struct{ in, out string }{
		{"password is hunter2-long", "password is [REDACTED]"},
		{"x marks the spot", "x marks the spot"}, // too short to be treated as a secret
		{"token xoxb-123456789012-abcdefABCDEF here", "token [REDACTED] here"},
		{"xapp-1-A0123-456-abcdef", "[REDACTED]"},
		{"Authorization: Bot MTA5ODc2NTQzMjEwOTg3NjU0", "Authorization: Bot [REDACTED]"},
		{"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9abcdef", "Authorization: Bearer [REDACTED]"},
		{"key AKIAIOSFODNN7EXAMPLE", "key [REDACTED]"},
		{"--password=abc123 --x", "--password=[REDACTED] --x"},
		{"AccountKey=Zm9vYmFy;EndpointSuffix=core", "AccountKey=[REDACTED];EndpointSuffix=core"},
		{"redis://default:s3cret@127.0.0.1:6379/0", "redis://default:[REDACTED]@127.0.0.1:6379/0"},
		{"create --type full --target data", "create --type full --target data"},
	}
	for _, c := range cases {
		if got := r.Redact(c.in); got != c.out {
			t.Errorf("Redact(%q) = %q; want %q", c.in, got, c.out)
		}
	}
}
