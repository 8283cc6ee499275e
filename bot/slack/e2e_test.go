package slack_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/bottest"
	"github.com/backupbot/backupbot/bot/slack/slacktest"
	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/internal/testredis"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/storage"
)

// TestBackupCreateFromSlackEndToEnd drives /backup create through the real
// router, queue and worker: Slack sees an ack within 3 s, one parent
// message, a thread holding one progress message edited several times, and
// a final summary, in that order.
func TestBackupCreateFromSlackEndToEnd(t *testing.T) {
	rdb := testredis.Flushed(t, testredis.DBSlack)
	data := t.TempDir()
	// Enough data that the job outlasts a few edit intervals after its
	// progress message is posted (the enqueue no longer gives the relay a
	// head start over the worker).
	bottest.WriteData(t, data, 64, 1<<20)
	// Alice may create backups through her Slack user group, not her user ID.
	stack := bottest.New(t, rdb, bottest.Options{Data: data, Operators: []string{"slack-group:S0OPS"}, Concurrency: 1,
		ProgressInterval: 40 * time.Millisecond, EditInterval: 100 * time.Millisecond})
	r := newRig(t, stack.Router, nil)
	stack.Run(t, bot.Slack, r.adapter)

	cmd := slacktest.SlashCommand{ChannelID: channel, UserID: "U0ALICE", UserName: "alice", Text: "create --type full --target data --storage local"}
	start := time.Now()
	status, body := bottest.Do(t, slacktest.SignedRequest(r.http.URL+"/slack/commands", signingSecret, time.Now(), cmd.Form()))
	if took := time.Since(start); took >= 3*time.Second {
		t.Errorf("ack after %v, Slack gives up after 3s", took)
	}
	if status != http.StatusOK {
		t.Fatalf("status = %d (%s)", status, body)
	}
	ack := decodeAnswer(t, body)
	if ack.ResponseType != "ephemeral" || !strings.Contains(ack.Text, "Queued as job") {
		t.Fatalf("ack = %+v, want an ephemeral 'Queued as job'", ack)
	}

	// Parent, progress message, summary: three posts.
	wait, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	posts, err := r.fake.WaitCalls(wait, "chat.postMessage", 3)
	if err != nil {
		t.Fatal(err)
	}
	// Let every queued edit land before counting.
	if err := r.adapter.Close(wait); err != nil {
		t.Fatal(err)
	}

	calls := r.fake.Answered("chat.postMessage", "chat.update")
	posts = r.fake.Answered("chat.postMessage")
	if len(posts) != 3 {
		for _, p := range posts {
			t.Logf("post: thread=%q text=%q", p.Form.Get("thread_ts"), p.Form.Get("text"))
		}
		t.Fatalf("%d messages posted, want 3 (parent, progress, summary)", len(posts))
	}
	parent := posts[0]
	if parent.Form.Get("thread_ts") != "" || parent.Form.Get("channel") != channel {
		t.Errorf("first post %v, want the job's parent message at the top of %s", parent.Form, channel)
	}
	parentTS, progressTS := posts[0].TS, posts[1].TS
	for i, p := range posts[1:] {
		if p.Form.Get("thread_ts") != parentTS {
			t.Errorf("post %d went to thread %q, want the parent's thread %s", i+2, p.Form.Get("thread_ts"), parentTS)
		}
	}

	var edits int
	summaryAt, lastEditAt := -1, -1
	for i, c := range calls {
		switch {
		case c.Method == "chat.update":
			if c.Form.Get("ts") != progressTS {
				t.Errorf("chat.update of %s, want only the progress message %s edited", c.Form.Get("ts"), progressTS)
			}
			edits++
			lastEditAt = i
		case c.Form.Get("text") == posts[2].Form.Get("text"):
			summaryAt = i
		}
	}
	if edits < 2 {
		t.Errorf("progress message edited %d times, want several", edits)
	}
	if summaryAt < lastEditAt {
		t.Errorf("summary posted before the last progress edit (call %d vs %d)", summaryAt, lastEditAt)
	}
	m, _ := r.fake.Message(channel, progressTS)
	t.Logf("parent: %q; progress (edited %d times, final): %q; summary: %q",
		parent.Form.Get("text"), edits, m.Text, posts[2].Form.Get("text"))
}

// TestQueueDownOrHungStillAcks runs the real router against a Redis that
// refuses connections and one that accepts them and never answers: either
// way Slack gets an ephemeral "queue unavailable" within 3 s.
func TestQueueDownOrHungStillAcks(t *testing.T) {
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := refused.Addr().String()
	refused.Close()

	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hung.Close() })
	go func() {
		var held []net.Conn // accepted and never answered
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := hung.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()

	pol, err := policy.New(policy.Config{Bindings: map[string][]string{"operator": {"slack:*"}}})
	if err != nil {
		t.Fatal(err)
	}
	for name, addr := range map[string]string{"refusing": refusedAddr, "hung": hung.Addr().String()} {
		t.Run(name, func(t *testing.T) {
			rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
			t.Cleanup(func() { rdb.Close() })
			jc := jobs.NewClient(nil, rdb, jobs.ClientOptions{Logger: bottest.Discard()})
			t.Cleanup(func() { jc.Close() })
			router := bot.NewRouter(bot.RouterOptions{
				Parser: commands.Parser{Targets: []string{"data"}}, Jobs: jc, Redis: rdb,
				Policy: policy.NewHolder(pol), Logger: bottest.Discard(),
			})
			r := newRig(t, router, nil)
			router.Register(bot.Slack, r.adapter)

			cmd := slacktest.SlashCommand{ChannelID: channel, UserID: "U0BOB", Text: "create --target data"}
			start := time.Now()
			status, body := bottest.Do(t, slacktest.SignedRequest(r.http.URL+"/slack/commands", signingSecret, time.Now(), cmd.Form()))
			if took := time.Since(start); took >= 3*time.Second {
				t.Errorf("ack after %v, Slack gives up after 3s", took)
			}
			ans := decodeAnswer(t, body)
			if status != http.StatusOK || ans.ResponseType != "ephemeral" || !strings.Contains(ans.Text, "queue is unavailable right now") {
				t.Errorf("answer %d %+v, want an ephemeral queue-unavailable message", status, ans)
			}
			if n := len(r.fake.Calls("chat.postMessage")); n != 0 {
				t.Errorf("%d messages posted for a job that was never queued", n)
			}
		})
	}
}

// TestReplayedSlashCommandRunsOnce sends the same correctly signed slash
// command three times (a replay within the signing window, or Slack
// retrying) through the real HTTP handler, router, queue and worker: all
// three acks name one job, and it runs once. Without a trigger id the
// signed body names the request.
func TestReplayedSlashCommandRunsOnce(t *testing.T) {
	rdb := testredis.Flushed(t, testredis.DBSlack)
	data := t.TempDir()
	bottest.WriteData(t, data, 2, 1<<10)
	stack := bottest.New(t, rdb, bottest.Options{Platform: "slack", Data: data})
	router, jc := stack.Router, stack.Jobs
	r := newRig(t, router, nil)
	router.Register(bot.Slack, r.adapter)

	withTrigger := slacktest.SlashCommand{ChannelID: channel, UserID: "U0ALICE", UserName: "alice", Text: "create --target data --storage local"}.Form()
	form, err := url.ParseQuery(string(withTrigger))
	if err != nil {
		t.Fatal(err)
	}
	form.Del("trigger_id")
	withoutTrigger := []byte(form.Encode())

	for name, body := range map[string][]byte{"trigger id": withTrigger, "signed body": withoutTrigger} {
		t.Run(name, func(t *testing.T) {
			signedAt := time.Now()
			bottest.RunsOnce(t, rdb, jc, func() string {
				status, resp := bottest.Do(t, slacktest.SignedRequest(r.http.URL+"/slack/commands", signingSecret, signedAt, body))
				ans := decodeAnswer(t, resp)
				if status != http.StatusOK {
					t.Fatalf("answer %d %q, want 'Queued as job'", status, ans.Text)
				}
				return ans.Text
			})
		})
	}
	if keys := bottest.JobKeys(t, rdb); len(keys) != 2 {
		t.Errorf("%d job records %v for two distinct requests sent three times each, want 2", len(keys), keys)
	}
}

// TestFirstTryOfANewSlackUser is a fresh install's first chat: the
// default policy binds nobody on Slack, yet the user gets help, and the
// refusal of a create tells them their ID as the policy spells it and the
// configuration key that would give them a role. Nothing is queued.
func TestFirstTryOfANewSlackUser(t *testing.T) {
	rdb := testredis.Flushed(t, testredis.DBSlack)
	dir := t.TempDir()
	cfg := &config.File{
		Storages: map[string]storage.Spec{"offsite": {Type: storage.KindLocal, Path: filepath.Join(dir, "repo")}},
		Targets:  map[string]config.Target{"website": {Paths: []string{dir}}},
	}
	jc := jobs.NewClient(nil, rdb, jobs.ClientOptions{Logger: bottest.Discard()})
	t.Cleanup(func() { jc.Close() })
	router := bot.NewRouter(bot.RouterOptions{
		Parser: cfg.Parser(), Jobs: jc, Redis: rdb, Policy: policy.NewHolder(policy.Default()), Logger: bottest.Discard(),
	})
	r := newRig(t, router, nil)
	router.Register(bot.Slack, r.adapter)

	slash := func(text string) string {
		t.Helper()
		cmd := slacktest.SlashCommand{ChannelID: channel, UserID: "U0NEWBIE", UserName: "newbie", Text: text}
		status, body := bottest.Do(t, slacktest.SignedRequest(r.http.URL+"/slack/commands", signingSecret, time.Now(), cmd.Form()))
		if status != http.StatusOK {
			t.Fatalf("/backup %s: status %d (%s)", text, status, body)
		}
		return decodeAnswer(t, body).Text
	}

	help := slash("help")
	if strings.Contains(help, "Not allowed") || !strings.Contains(help, "/backup ACTION") {
		t.Fatalf("/backup help for a user with no role answered %q, want the list of actions", help)
	}
	createHelp := slash("help create")
	for _, want := range []string{"website", "offsite"} {
		if !strings.Contains(createHelp, want) {
			t.Errorf("/backup help create does not list the configured %q:\n%s", want, createHelp)
		}
	}
	if strings.Contains(createHelp, "config, data, state, logs") {
		t.Errorf("/backup help create lists the built-in targets, not the configuration's:\n%s", createHelp)
	}

	refusal := slash("create --target website")
	for _, want := range []string{"⛔ Not allowed", "operator", "slack:U0NEWBIE", "policy.bindings.operator"} {
		if !strings.Contains(refusal, want) {
			t.Errorf("refusal of create %q does not name %q", refusal, want)
		}
	}
	if keys := bottest.JobKeys(t, rdb); len(keys) != 0 {
		t.Errorf("a refused create left job records %v", keys)
	}
}
