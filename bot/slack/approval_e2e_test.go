package slack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/bottest"
	"github.com/backupbot/backupbot/bot/slack"
	"github.com/backupbot/backupbot/bot/slack/slacktest"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/internal/testredis"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/policy/approval"
	"github.com/backupbot/backupbot/policy/audit"
	"github.com/backupbot/backupbot/storage"
)

// The people of the approval test's workspace. Their roles come from the
// policy below, bound to Slack user groups (by handle or by group ID, as
// the fake's usergroups.list / usergroups.users.list report them) and to
// one Slack user ID.
var (
	alice = slackUser{"U0ALICE", "alice"} // restorer, through user group @restorers
	bob   = slackUser{"U0BOB", "bob"}     // approver, through user group S0APPROVE
	dave  = slackUser{"U0DAVE", "dave"}   // approver, through his user ID
	carol = slackUser{"U0CAROL", "carol"} // operator, through user group @ops: no approver
	erin  = slackUser{"U0ERIN", "erin"}   // viewer only (every Slack user)
)

var approvalGroups = []slacktest.Group{
	{ID: "S0RESTORE", Handle: "restorers", Name: "Restorers", Users: []string{alice.id}},
	{ID: "S0APPROVE", Handle: "backup-approvers", Name: "Backup approvers", Users: []string{bob.id}},
	{ID: "S0OPS", Handle: "ops", Name: "Ops", Users: []string{carol.id}},
}

// approvalPolicy uses the built-in roles; only bindings and the TTL are set.
const approvalPolicy = `
policy:
  bindings:
    viewer: ["slack:*"]
    operator: ["slack-group:ops"]
    restorer: ["slack-group:restorers"]
    approver: ["slack-group:S0APPROVE", "slack:U0DAVE"]
  approval:
    ttl: 10m
`

type slackUser struct{ id, name string }

// approvalStack is the whole Slack path in one process: the fake Slack,
// the adapter served over HTTP, the real router, policy, approval store
// and audit log, an in-process worker and a local repository.
type approvalStack struct {
	t        *testing.T
	fake     *slacktest.Server
	http     *httptest.Server
	rdb      *redis.Client
	data     string
	clockOff atomic.Int64 // added to the approval store's clock
}

func newApprovalStack(t *testing.T) *approvalStack {
	t.Helper()
	rdb := testredis.Flushed(t, testredis.DBSlackApprovals)

	dir := t.TempDir()
	s := &approvalStack{t: t, rdb: rdb, data: filepath.Join(dir, "data")}
	if err := os.MkdirAll(s.data, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		s.write(fmt.Sprintf("file-%d.txt", i), original(i))
	}
	cfg := &config.File{
		Storages: map[string]storage.Spec{"local": {Type: storage.KindLocal, Path: filepath.Join(dir, "repo")}},
		Targets:  map[string]config.Target{"data": {Paths: []string{s.data}}},
	}
	pol, err := policy.Parse([]byte(approvalPolicy))
	if err != nil {
		t.Fatal(err)
	}
	holder := policy.NewHolder(pol)
	auditLog, err := audit.New(rdb, audit.Options{File: filepath.Join(dir, "audit.jsonl"), Logger: bottest.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { auditLog.Close() })
	store := approval.New(rdb, holder, approval.Options{Now: func() time.Time {
		return time.Now().Add(time.Duration(s.clockOff.Load()))
	}})
	jc := jobs.NewClient(nil, rdb, jobs.ClientOptions{Logger: bottest.Discard()})
	t.Cleanup(func() { jc.Close() })
	router := bot.NewRouter(bot.RouterOptions{
		Parser: cfg.Parser(), Jobs: jc, Redis: rdb, Policy: holder, Approvals: store, Audit: auditLog,
		EditInterval: 50 * time.Millisecond, PostInterval: 50 * time.Millisecond, Logger: bottest.Discard(),
	})

	s.fake = slacktest.New(slacktest.Options{BotToken: botToken, Groups: approvalGroups})
	t.Cleanup(s.fake.Close)
	var adapter *slack.Adapter
	adapter, s.http = bottest.Start(t, slack.NewAdapter, slack.Options{
		BotToken: botToken, SigningSecret: signingSecret, APIURL: s.fake.APIURL(),
		Handler: router, Logger: bottest.Discard(), EditInterval: 50 * time.Millisecond,
	}, nil)
	router.Register(bot.Slack, adapter)

	ctx, stop := context.WithCancel(context.Background())
	worker := jobs.NewWorker(nil, rdb, jobs.Deps{
		Config:   func() *config.File { return cfg },
		Password: func(storage.Spec) (string, error) { return "test repository password", nil },
		Policy:   func() jobs.Rechecker { return holder.Policy() },
		Logger:   bottest.Discard(),
	}, jobs.WorkerOptions{Concurrency: 2, ProgressInterval: 50 * time.Millisecond})
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := worker.Run(ctx); err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	wg.Go(func() {
		if err := router.Run(ctx); err != nil {
			t.Errorf("router: %v", err)
		}
	})
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := adapter.Close(cctx); err != nil {
			t.Errorf("closing the adapter: %v", err)
		}
		stop()
		wg.Wait()
		if t.Failed() {
			s.dump()
		}
	})
	return s
}

func original(i int) string { return fmt.Sprintf("contents %d\n", i) }

func (s *approvalStack) write(name, contents string) {
	s.t.Helper()
	if err := os.WriteFile(filepath.Join(s.data, name), []byte(contents), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// files reads the data directory: name -> contents.
func (s *approvalStack) files() map[string]string {
	s.t.Helper()
	entries, err := os.ReadDir(s.data)
	if err != nil {
		s.t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(s.data, e.Name()))
		if err != nil {
			s.t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

// expectFiles fails unless the data directory holds exactly want.
func (s *approvalStack) expectFiles(why string, want map[string]string) {
	s.t.Helper()
	got := s.files()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		s.t.Fatalf("%s: data directory holds %q, want %q", why, got, want)
	}
}

// mark is the number of Web API calls recorded so far; waits look only at
// calls after a mark.
func (s *approvalStack) mark() int { return len(s.fake.Calls()) }

// slash sends `/backup text` as user, signed, in Slack's form encoding,
// and returns the ephemeral acknowledgement.
func (s *approvalStack) slash(u slackUser, text string) string {
	s.t.Helper()
	cmd := slacktest.SlashCommand{ChannelID: channel, UserID: u.id, UserName: u.name, Text: text}
	status, body := bottest.Do(s.t, slacktest.SignedRequest(s.http.URL+"/slack/commands", signingSecret, time.Now(), cmd.Form()))
	if status != http.StatusOK {
		s.t.Fatalf("/backup %s: status %d (%s)", text, status, body)
	}
	ans := decodeAnswer(s.t, body)
	if ans.ResponseType != "ephemeral" {
		s.t.Errorf("/backup %s answered %q, want an ephemeral acknowledgement", text, ans.ResponseType)
	}
	return ans.Text
}

// click presses a button of a posted message as u: a signed
// block_actions payload on POST /slack/interactions.
func (s *approvalStack) click(u slackUser, msg slacktest.Call, b button) {
	s.t.Helper()
	if err := s.tryClick(u, msg, b); err != nil {
		s.t.Fatal(err)
	}
}

// tryClick is click for any goroutine: it returns what went wrong.
func (s *approvalStack) tryClick(u slackUser, msg slacktest.Call, b button) error {
	act := slacktest.BlockAction{
		UserID: u.id, UserName: u.name, ChannelID: msg.Form.Get("channel"),
		MessageTS: msg.TS, ThreadTS: msg.Form.Get("thread_ts"), ActionID: b.ActionID, Value: b.Value,
	}
	req := slacktest.SignedRequest(s.http.URL+"/slack/interactions", signingSecret, time.Now(), act.Form())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("click %s by %s: %w", b.ActionID, u.name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("click %s by %s: reading the answer: %w", b.ActionID, u.name, err)
	}
	if resp.StatusCode != http.StatusOK || len(body) != 0 {
		return fmt.Errorf("click %s by %s: status %d body %q, want an empty 200 (Slack's ack)", b.ActionID, u.name, resp.StatusCode, body)
	}
	return nil
}

// wait returns the first call of method answered after since that
// satisfies match, waiting for new calls until a deadline.
func (s *approvalStack) wait(since int, method, what string, match func(slacktest.Call) bool) slacktest.Call {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		all := s.fake.Calls()
		n := 0
		for i, c := range all {
			if c.Method != method {
				continue
			}
			n++
			if i >= since && c.Status == http.StatusOK && match(c) {
				return c
			}
		}
		if _, err := s.fake.WaitCalls(ctx, method, n+1); err != nil {
			s.t.Fatalf("waiting for %s: %v", what, err)
		}
	}
}

// waitPost waits for a chat.postMessage after since whose text matches re
// and (when thread != "") that went into thread.
func (s *approvalStack) waitPost(since int, thread, re string) slacktest.Call {
	s.t.Helper()
	rx := regexp.MustCompile(re)
	return s.wait(since, "chat.postMessage", fmt.Sprintf("a post matching %q in thread %q", re, thread), func(c slacktest.Call) bool {
		return rx.MatchString(c.Form.Get("text")) && (thread == "" || c.Form.Get("thread_ts") == thread)
	})
}

// waitEphemeral waits for an ephemeral message to u after since and
// returns its text, which must match re.
func (s *approvalStack) waitEphemeral(since int, u slackUser, re string) string {
	s.t.Helper()
	c := s.wait(since, "chat.postEphemeral", "an ephemeral answer to "+u.name, func(c slacktest.Call) bool {
		return c.Form.Get("user") == u.id
	})
	text := c.Form.Get("text")
	if !regexp.MustCompile(re).MatchString(text) {
		s.t.Fatalf("%s was told %q, want a message matching %q", u.name, text, re)
	}
	return text
}

// posts counts chat.postMessage calls whose text matches re.
func (s *approvalStack) posts(re string) int {
	rx := regexp.MustCompile(re)
	n := 0
	for _, c := range s.fake.Answered("chat.postMessage") {
		if rx.MatchString(c.Form.Get("text")) {
			n++
		}
	}
	return n
}

// jobTexts lists the commands of every job enqueued so far (from the job
// records in Redis), e.g. "restore --name base --target data --force".
func (s *approvalStack) jobTexts() []string {
	s.t.Helper()
	ctx := context.Background()
	keys, err := s.rdb.Keys(ctx, "backupbot:job:*").Result()
	if err != nil {
		s.t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		if strings.Count(k, ":") != 2 {
			continue // a job's cancel flag, not its record
		}
		raw, err := s.rdb.HGet(ctx, k, "meta").Result()
		if err != nil {
			s.t.Fatalf("reading job record %s: %v", k, err)
		}
		var m jobs.Meta
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			s.t.Fatalf("job record %s: %v", k, err)
		}
		out = append(out, m.Text)
	}
	return out
}

// writingRestores counts the restore jobs that write (not previews).
func (s *approvalStack) writingRestores() int {
	n := 0
	for _, text := range s.jobTexts() {
		if strings.HasPrefix(text, "restore ") && !strings.Contains(text, "--preview") {
			n++
		}
	}
	return n
}

func (s *approvalStack) dump() {
	for _, c := range s.fake.Calls("chat.postMessage", "chat.postEphemeral") {
		s.t.Logf("%s to=%s thread=%s ts=%s: %s", c.Method, c.Form.Get("user"), c.Form.Get("thread_ts"), c.TS, c.Form.Get("text"))
	}
}

// button is one Block Kit button as Slack received it.
type button struct {
	ActionID, Value, Style, Label string
}

// buttons reads the buttons of a recorded chat.postMessage from its blocks.
func buttons(t *testing.T, c slacktest.Call) []button {
	t.Helper()
	var out []button
	for _, b := range decodeBlocks(t, c.Form.Get("blocks")) {
		if b.Type != "actions" {
			continue
		}
		for _, e := range b.Elems {
			if e.Type != "button" {
				t.Errorf("actions element of type %q, want button", e.Type)
			}
			out = append(out, button{ActionID: e.ActionID, Value: e.Value, Style: e.Style, Label: e.Text.Text})
		}
	}
	return out
}

// expectButtons checks a message's buttons (action id, label, style; one
// value shared by all) and returns them.
func expectButtons(t *testing.T, c slacktest.Call, want ...button) []button {
	t.Helper()
	got := buttons(t, c)
	if len(got) != len(want) {
		t.Fatalf("message %q has buttons %+v, want %d", c.Form.Get("text"), got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.ActionID != w.ActionID || g.Label != w.Label || g.Style != w.Style || g.Value == "" || g.Value != got[0].Value {
			t.Fatalf("button %d = %+v, want action %q label %q style %q carrying the request's id", i, g, w.ActionID, w.Label, w.Style)
		}
	}
	return got
}

var approveDeny = []button{
	{ActionID: bot.ActionApprove, Label: "Approve", Style: "primary"},
	{ActionID: bot.ActionDeny, Label: "Deny", Style: "danger"},
}

// requestForcedRestore has alice type the forced restore and returns the
// posted preview holding the Approve/Deny buttons, its thread and buttons.
func (s *approvalStack) requestForcedRestore() (msg slacktest.Call, thread string, approve, deny button) {
	s.t.Helper()
	m := s.mark()
	ack := s.slash(alice, "restore --name base --target data --force")
	if !strings.Contains(ack, "needs approval by a second person") {
		s.t.Fatalf("ack %q, want it to say a second person must approve", ack)
	}
	msg = s.waitPost(m, "", "Restore preview of base")
	thread = msg.Form.Get("thread_ts")
	if thread == "" {
		s.t.Fatal("the preview with the Approve/Deny buttons was posted at the top of the channel, want it in the job's thread")
	}
	text := msg.Form.Get("text")
	if !strings.Contains(text, "needs approval by someone with role approver or admin other than @alice") {
		s.t.Errorf("preview text %q, want it to say who may approve", text)
	}
	bs := expectButtons(s.t, msg, approveDeny...)
	if !strings.Contains(text, "Approval `"+bs[0].Value+"`") {
		s.t.Errorf("preview text %q does not name approval %s carried by the buttons", text, bs[0].Value)
	}
	if !strings.Contains(msg.Form.Get("blocks"), "Plan") {
		s.t.Errorf("preview blocks %s, want the plan shown with the buttons", msg.Form.Get("blocks"))
	}
	return msg, thread, bs[0], bs[1]
}

// refused clicks b as u and expects the click refused: an ephemeral answer
// to u matching re, and no job enqueued because of it.
func (s *approvalStack) refused(u slackUser, msg slacktest.Call, b button, re string) {
	s.t.Helper()
	before := len(s.jobTexts())
	m := s.mark()
	s.click(u, msg, b)
	s.waitEphemeral(m, u, re)
	if after := len(s.jobTexts()); after != before {
		s.t.Fatalf("a refused %s click by %s enqueued %d job(s)", b.ActionID, u.name, after-before)
	}
}

// TestApprovalFlowThroughSlackInteractions is issue 7's acceptance point 2
// through Slack's interaction endpoint, end to end: signed slash commands
// and block_actions clicks over HTTP, the real router, policy, approval
// store and audit log, a worker restoring into a local directory, and the
// fake Slack recording every message.
func TestApprovalFlowThroughSlackInteractions(t *testing.T) {
	s := newApprovalStack(t)

	// Carol (operator through @ops) backs the data up.
	m := s.mark()
	if ack := s.slash(carol, "create --type full --target data --name base"); !strings.Contains(ack, "Queued as job") {
		t.Fatalf("create ack %q, want it queued", ack)
	}
	s.waitPost(m, "", "Backup base done")

	// The data is damaged after the backup: file-0 overwritten, file-1 gone.
	s.write("file-0.txt", "corrupted\n")
	if err := os.Remove(filepath.Join(s.data, "file-1.txt")); err != nil {
		t.Fatal(err)
	}
	damaged := map[string]string{"file-0.txt": "corrupted\n", "file-2.txt": original(2)}

	// Erin (viewer only) may not even ask.
	if ack := s.slash(erin, "restore --name base --target data --force"); !strings.Contains(ack, "Not allowed") || !strings.Contains(ack, "restorer") {
		t.Errorf("erin's forced restore was answered %q, want a denial naming the restorer role", ack)
	}

	msg, thread, approve, deny := s.requestForcedRestore()
	id := approve.Value

	t.Log("(a) the requester approving her own request is refused")
	m = s.mark()
	s.refused(alice, msg, approve, `^⛔ Refused: you cannot approve your own request \(`+id+`\), another person with the approver or admin role must approve it\.$`)
	s.waitPost(m, thread, "^⛔ @alice tried to approve `"+id+"`: refused, you cannot approve your own request")

	t.Log("(b) users without an approver role are refused, approving and denying")
	for _, u := range []slackUser{carol, erin} {
		m := s.mark()
		s.refused(u, msg, approve, `^⛔ Refused: you do not hold an approver role: approving `+id+` needs the approver or admin role\.$`)
		s.waitPost(m, thread, "^⛔ @"+u.name+" tried to approve `"+id+"`: refused, you do not hold an approver role")
		s.refused(u, msg, deny, `^⛔ @`+u.name+` cannot deny request `+id+`: that needs the approver or admin role$`)
	}
	s.expectFiles("after refused approvals", damaged)

	t.Log("(f) the data changes after the preview: the approval no longer matches and a new one is needed")
	s.write("file-2.txt", "changed after the preview\n") // the plan now overwrites file-2 too
	damaged["file-2.txt"] = "changed after the preview\n"
	m = s.mark()
	s.click(bob, msg, approve)
	s.waitEphemeral(m, bob, "^🔎 Checking that the plan is unchanged \\(job `[0-9a-f]{8}`\\)")
	s.waitPost(m, thread, "^⛔ Approval `"+id+"` by @bob refused: .*the plan changed since the preview, so a new request .* is needed")
	s.refused(bob, msg, approve, `^⛔ Refused: the approval request was already decided \(`+id+` is stale by @bob\)`)
	if n := s.writingRestores(); n != 0 {
		t.Fatalf("%d writing restore job(s) enqueued for a stale approval", n)
	}
	s.expectFiles("after the stale approval", damaged)

	t.Log("(c) an approval past the policy's approval.ttl (10m) is refused")
	msg, thread, approve, _ = s.requestForcedRestore()
	s.clockOff.Store(int64(11 * time.Minute)) // the approval store's clock; it never goes back
	m = s.mark()
	s.refused(bob, msg, approve, `^⛔ Refused: the approval request has expired \(`+approve.Value+` expired at`)
	s.waitPost(m, thread, "^⛔ @bob tried to approve `"+approve.Value+"`: refused, the approval request has expired")
	s.expectFiles("after the expired approval", damaged)

	t.Log("(d) a valid approval, clicked by both approvers at once: one wins, the restore runs once")
	msg, thread, approve, _ = s.requestForcedRestore()
	id = approve.Value
	m = s.mark()
	errs := make(chan error, 2)
	for _, u := range []slackUser{bob, dave} {
		go func() { errs <- s.tryClick(u, msg, approve) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	winners := 0
	var winner slackUser
	for _, u := range []slackUser{bob, dave} {
		text := s.waitEphemeral(m, u, `^(🔎 Checking that the plan is unchanged|⛔ Refused: the approval request was already decided)`)
		if strings.HasPrefix(text, "⛔") {
			continue // the other click had already won when this one was read
		}
		outcome := s.waitPost(m, thread, "^(👍 Approved by @"+u.name+" \\(plan unchanged\\)\\. Running `restore --name base --target data --force` as job|⛔ Approval `"+id+"` by @"+u.name+" refused: approval request "+id+" was already approved by @)")
		if strings.HasPrefix(outcome.Form.Get("text"), "👍") {
			winners++
			winner = u
		}
	}
	if winners != 1 {
		t.Fatalf("%d approvals went through for two simultaneous clicks, want exactly 1", winners)
	}
	s.waitPost(m, thread, "^✅ Restored \\d+ files .* from base to the original paths")
	restored := map[string]string{"file-0.txt": original(0), "file-1.txt": original(1), "file-2.txt": original(2)}
	s.expectFiles("after the approved restore", restored)

	t.Log("(e) a replayed approval click is refused and runs nothing")
	m = s.mark()
	s.refused(winner, msg, approve, `^⛔ Refused: the approval request was already decided \(`+id+` is approved by @`+winner.name+`\); a request is used only once\.$`)
	s.waitPost(m, thread, "^⛔ @"+winner.name+" tried to approve `"+id+"`: refused, the approval request was already decided")
	if n := s.writingRestores(); n != 1 {
		t.Errorf("%d writing restore jobs were enqueued, want exactly 1 (jobs: %q)", n, s.jobTexts())
	}
	if n := s.posts("^✅ Restored "); n != 1 {
		t.Errorf("%d restore results were posted, want exactly 1", n)
	}
	if n := s.posts("^👍 Approved by "); n != 1 {
		t.Errorf("%d approvals were announced, want exactly 1", n)
	}

	t.Log("a denial is shown in the thread with who denied; the requester cannot deny, only withdraw")
	msg, thread, approve, deny = s.requestForcedRestore()
	s.refused(alice, msg, deny, "^⛔ @alice cannot deny request "+deny.Value+": that needs the approver or admin role; to take back your own request use `/backup approvals --withdraw "+deny.Value+"`$")
	m = s.mark()
	s.click(dave, msg, deny)
	s.waitEphemeral(m, dave, "^👎 Denied\\.$")
	s.waitPost(m, thread, "^👎 @dave denied `restore --name base --target data --force` \\(approval `"+deny.Value+"`\\); nothing was restored\\.$")
	s.refused(bob, msg, approve, `^⛔ Refused: the approval request was already decided \(`+approve.Value+` is denied by @dave\)`)
	if n := s.writingRestores(); n != 1 {
		t.Errorf("%d writing restore jobs after a denial, want still 1", n)
	}
	s.expectFiles("after the denial", restored)

	t.Log("(f) again: a new snapshot with the same name between request and approval invalidates it")
	msg, thread, approve, _ = s.requestForcedRestore()
	m = s.mark()
	s.slash(carol, "create --type full --target data --name base")
	s.waitPost(m, "", "Backup base done")
	m = s.mark()
	s.click(bob, msg, approve)
	s.waitEphemeral(m, bob, "^🔎 Checking that the plan is unchanged")
	s.waitPost(m, thread, "^⛔ Approval `"+approve.Value+"` by @bob refused: .*the plan changed since the preview")
	if n := s.writingRestores(); n != 1 {
		t.Errorf("%d writing restore jobs after a plan change, want still 1", n)
	}

	// Every decision is in the audit log with who made it.
	log, err := audit.New(s.rdb, audit.Options{File: "-", Logger: bottest.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	entries, err := log.Query(context.Background(), audit.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	who := map[audit.Kind][]string{}
	for _, e := range entries {
		who[e.Kind] = append(who[e.Kind], e.User.UserID)
	}
	if fmt.Sprint(who[audit.Approved]) != "["+winner.id+"]" || fmt.Sprint(who[audit.Denied]) != "["+dave.id+"]" {
		t.Errorf("audit log approvals by %v and denials by %v, want [%s] and [%s]", who[audit.Approved], who[audit.Denied], winner.id, dave.id)
	}
}

// TestWritingRestoreConfirmedOnlyByTheRequester: a restore without --force
// that writes shows its preview with Confirm/Cancel to the requester, and
// only the requester's Confirm runs it.
func TestWritingRestoreConfirmedOnlyByTheRequester(t *testing.T) {
	s := newApprovalStack(t)
	m := s.mark()
	s.slash(carol, "create --type full --target data --name base")
	s.waitPost(m, "", "Backup base done")
	s.write("file-0.txt", "corrupted\n")

	m = s.mark()
	ack := s.slash(alice, "restore --name base --target data")
	if !strings.Contains(ack, "press Confirm to run it") {
		t.Fatalf("ack %q, want a preview to confirm", ack)
	}
	msg := s.waitPost(m, "", "Restore preview of base")
	thread := msg.Form.Get("thread_ts")
	if !strings.Contains(msg.Form.Get("text"), "@alice: press *Confirm* to run `restore --name base --target data` exactly as previewed") {
		t.Errorf("preview text %q, want it to ask alice to confirm", msg.Form.Get("text"))
	}
	bs := expectButtons(t, msg,
		button{ActionID: bot.ActionConfirm, Label: "Confirm restore", Style: "primary"},
		button{ActionID: bot.ActionCancel, Label: "Cancel"})
	confirm, cancel := bs[0], bs[1]

	for _, u := range []slackUser{bob, carol} { // an approver is no exception
		s.refused(u, msg, confirm, `^⛔ Only @alice, who asked for this restore, can confirm it\.$`)
		s.refused(u, msg, cancel, `^⛔ Only @alice, who asked for this restore, can cancel it\.$`)
	}
	s.expectFiles("after other users' clicks", map[string]string{"file-0.txt": "corrupted\n", "file-1.txt": original(1), "file-2.txt": original(2)})

	m = s.mark()
	s.click(alice, msg, confirm)
	s.waitEphemeral(m, alice, "^▶️ Confirmed\\. Restoring as job `[0-9a-f]{8}`")
	s.waitPost(m, thread, "^✅ Restored \\d+ files .* from base to the original paths")
	s.expectFiles("after alice's confirmation", map[string]string{"file-0.txt": original(0), "file-1.txt": original(1), "file-2.txt": original(2)})

	s.refused(alice, msg, confirm, "^⛔ there is no pending confirmation `[0-9a-f]{8}`: it was already used, canceled, or it expired")
	if n := s.writingRestores(); n != 1 {
		t.Errorf("%d writing restore jobs, want exactly the confirmed one", n)
	}
	if n := s.posts("^✅ Restored "); n != 1 {
		t.Errorf("%d restore results posted, want 1", n)
	}
}
