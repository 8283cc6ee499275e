package slack_test

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/bottest"
	"github.com/backupbot/backupbot/bot/slack"
	"github.com/backupbot/backupbot/bot/slack/slacktest"
)

func TestSlashCommandReachesHandlerAsTheSlackUser(t *testing.T) {
	h := bottest.NewRecorder()
	r := newRig(t, h, nil)
	cmd := slacktest.SlashCommand{ChannelID: channel, UserID: "U0ALICE", UserName: "alice", Text: "create --type full --target data"}

	status, body := bottest.Do(t, slacktest.SignedRequest(r.http.URL+"/slack/commands", signingSecret, time.Now(), cmd.Form()))

	if status != http.StatusOK {
		t.Fatalf("status = %d, want 200 (%s)", status, body)
	}
	ans := decodeAnswer(t, body)
	if ans.ResponseType != "ephemeral" || !strings.Contains(ans.Text, "Queued as job *7f3a*") {
		t.Errorf("answer = %+v, want the handler's ephemeral reply", ans)
	}
	cmds, _ := h.Seen()
	if len(cmds) != 1 {
		t.Fatalf("handler got %d commands, want 1", len(cmds))
	}
	in := cmds[0]
	if in.From.Platform != bot.Slack || in.From.UserID != "U0ALICE" || in.From.UserName != "alice" {
		t.Errorf("From = %+v, want the Slack user U0ALICE (alice)", in.From)
	}
	for _, g := range []string{"S0ADMINS", "backup-admins", "S0OPS", "ops"} {
		if !slices.Contains(in.From.Groups, g) {
			t.Errorf("Groups = %v, missing %q (group IDs and handles both)", in.From.Groups, g)
		}
	}
	if in.Channel != channelRef || in.Text != cmd.Text {
		t.Errorf("Incoming = %+v, want channel %s and text %q", in, channelRef, cmd.Text)
	}
}

func TestNonEphemeralReplyIsShownInChannel(t *testing.T) {
	h := bottest.NewRecorder()
	h.Reply = bot.Reply{Message: bot.Message{Text: "Backups:", Fields: []bot.Field{{Label: "data", Value: "3 snapshots"}}}}
	r := newRig(t, h, nil)
	cmd := slacktest.SlashCommand{ChannelID: channel, UserID: "U0BOB", UserName: "bob", Text: "list"}

	_, body := bottest.Do(t, slacktest.SignedRequest(r.http.URL+"/slack/commands", signingSecret, time.Now(), cmd.Form()))

	ans := decodeAnswer(t, body)
	if ans.ResponseType != "in_channel" {
		t.Errorf("response_type = %q, want in_channel", ans.ResponseType)
	}
	if len(ans.Blocks) != 2 || !bytes.Contains(ans.Blocks[1], []byte(`*data*\n3 snapshots`)) {
		t.Errorf("blocks = %s, want a text section and a fields section", ans.Blocks)
	}
}

func TestGroupsAreCachedAcrossCommands(t *testing.T) {
	h := bottest.NewRecorder()
	r := newRig(t, h, nil)
	for _, user := range []string{"U0ALICE", "U0BOB", "U0CAROL"} {
		cmd := slacktest.SlashCommand{ChannelID: channel, UserID: user, Text: "list"}
		if status, body := bottest.Do(t, slacktest.SignedRequest(r.http.URL+"/slack/commands", signingSecret, time.Now(), cmd.Form())); status != 200 {
			t.Fatalf("status = %d (%s)", status, body)
		}
	}
	if n := len(r.fake.Calls("usergroups.list")); n != 1 {
		t.Errorf("usergroups.list called %d times for 3 commands, want 1 (cached)", n)
	}
	cmds, _ := h.Seen()
	want := map[string][]string{"U0ALICE": {"S0ADMINS", "backup-admins", "S0OPS", "ops"}, "U0BOB": {"S0OPS", "ops"}, "U0CAROL": nil}
	for _, in := range cmds {
		if !slices.Equal(in.From.Groups, want[in.From.UserID]) {
			t.Errorf("%s groups = %v, want %v", in.From.UserID, in.From.Groups, want[in.From.UserID])
		}
	}
}

// TestSlowQueueStillAcksWithinSlacksDeadline uses the default AckTimeout:
// Slack drops a slash command that is not answered within 3 s, so that
// deadline is part of the behaviour under test, not a speed measurement.
// The ack does not guess at the outcome: it says an answer follows, and
// the handler's own answer is then shown to the user.
func TestSlowQueueStillAcksWithinSlacksDeadline(t *testing.T) {
	h := bottest.NewRecorder()
	h.Block = true
	r := newRig(t, h, nil)
	cmd := slacktest.SlashCommand{ChannelID: channel, UserID: "U0ALICE", Text: "create"}

	start := time.Now()
	status, body := bottest.Do(t, slacktest.SignedRequest(r.http.URL+"/slack/commands", signingSecret, time.Now(), cmd.Form()))
	took := time.Since(start)

	if status != http.StatusOK {
		t.Fatalf("status = %d, want 200", status)
	}
	if took >= 3*time.Second {
		t.Errorf("answered after %v, Slack gives up after 3s", took)
	}
	ans := decodeAnswer(t, body)
	if ans.ResponseType != "ephemeral" || !strings.Contains(ans.Text, "answer follows") {
		t.Errorf("answer = %+v, want an ephemeral 'the answer follows'", ans)
	}
	select {
	case <-h.Cancelled:
	case <-bottest.WaitCtx(t).Done():
		t.Fatal("the slow handler's context was never cancelled")
	}
	calls, err := r.fake.WaitCalls(bottest.WaitCtx(t), "chat.postEphemeral", 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := calls[0].Form.Get("text"); !strings.Contains(got, "Nothing was started: too late.") || calls[0].Form.Get("user") != "U0ALICE" {
		t.Errorf("late answer %v, want the handler's own answer shown to U0ALICE", calls[0].Form)
	}
}

func TestButtonClickIsCheckedAsTheClicker(t *testing.T) {
	h := bottest.NewRecorder()
	r := newRig(t, h, nil)
	click := slacktest.BlockAction{UserID: "U0BOB", UserName: "bob", ChannelID: channel,
		MessageTS: "1700000000.000042", ThreadTS: "1700000000.000040", ActionID: "restore.confirm", Value: "job-7f3a"}

	status, body := bottest.Do(t, slacktest.SignedRequest(r.http.URL+"/slack/interactions", signingSecret, time.Now(), click.Form()))
	if status != http.StatusOK {
		t.Fatalf("status = %d, want 200 (%s)", status, body)
	}

	calls, err := r.fake.WaitCalls(bottest.WaitCtx(t), "chat.postEphemeral", 1)
	if err != nil {
		t.Fatal(err)
	}
	f := calls[0].Form
	if f.Get("user") != "U0BOB" || f.Get("channel") != channel || f.Get("thread_ts") != click.ThreadTS {
		t.Errorf("postEphemeral form = %v, want it to the clicker U0BOB in the job's thread", f)
	}
	if !strings.Contains(f.Get("text"), "Restore confirmed.") {
		t.Errorf("postEphemeral text = %q, want the handler's reply", f.Get("text"))
	}
	_, clicks := h.Seen()
	if len(clicks) != 1 {
		t.Fatalf("handler got %d clicks, want 1", len(clicks))
	}
	c := clicks[0]
	if c.From.UserID != "U0BOB" || !slices.Contains(c.From.Groups, "ops") {
		t.Errorf("click From = %+v, want the clicker U0BOB with group ops", c.From)
	}
	want := bot.MessageRef{Channel: channelRef, ID: click.MessageTS, Thread: click.ThreadTS}
	if c.Message != want || c.ActionID != "restore.confirm" || c.Value != "job-7f3a" {
		t.Errorf("click = %+v, want message %+v, action restore.confirm, value job-7f3a", c, want)
	}
}

// TestUnverifiedRequestsAreRejected covers every way a request can fail
// verification, on both endpoints: nothing may reach the handler.
func TestUnverifiedRequestsAreRejected(t *testing.T) {
	cmd := slacktest.SlashCommand{ChannelID: channel, UserID: "U0MALLORY", Text: "restore --name prod --force"}
	click := slacktest.BlockAction{UserID: "U0MALLORY", ChannelID: channel, MessageTS: "1.1", ActionID: "restore.approve", Value: "job-1"}
	bodies := map[string][]byte{"/slack/commands": cmd.Form(), "/slack/interactions": click.Form()}

	now := time.Now()
	cases := []struct {
		name   string
		build  func(url string, body []byte) *http.Request
		status int
	}{
		{"forged signature (wrong secret)", func(url string, body []byte) *http.Request {
			return slacktest.SignedRequest(url, "not-the-secret", now, body)
		}, http.StatusUnauthorized},
		{"stale timestamp (6 minutes old)", func(url string, body []byte) *http.Request {
			return slacktest.SignedRequest(url, signingSecret, now.Add(-6*time.Minute), body)
		}, http.StatusUnauthorized},
		{"timestamp 6 minutes in the future", func(url string, body []byte) *http.Request {
			return slacktest.SignedRequest(url, signingSecret, now.Add(6*time.Minute), body)
		}, http.StatusUnauthorized},
		{"replayed body: new timestamp, old signature", func(url string, body []byte) *http.Request {
			old := slacktest.SignedRequest(url, signingSecret, now.Add(-10*time.Minute), body)
			req := slacktest.SignedRequest(url, signingSecret, now, body)
			req.Header.Set("X-Slack-Signature", old.Header.Get("X-Slack-Signature"))
			return req
		}, http.StatusUnauthorized},
		{"tampered body", func(url string, body []byte) *http.Request {
			req := slacktest.SignedRequest(url, signingSecret, now, body)
			tampered := slacktest.SignedRequest(url, signingSecret, now, append(bytes.Clone(body), "&text=cleanup+--force"...))
			tampered.Header = req.Header
			return tampered
		}, http.StatusUnauthorized},
		{"no signature headers", func(url string, body []byte) *http.Request {
			req := slacktest.SignedRequest(url, signingSecret, now, body)
			req.Header.Del("X-Slack-Signature")
			req.Header.Del("X-Slack-Request-Timestamp")
			return req
		}, http.StatusUnauthorized},
		{"no timestamp header", func(url string, body []byte) *http.Request {
			req := slacktest.SignedRequest(url, signingSecret, now, body)
			req.Header.Del("X-Slack-Request-Timestamp")
			return req
		}, http.StatusUnauthorized},
		{"no signature header", func(url string, body []byte) *http.Request {
			req := slacktest.SignedRequest(url, signingSecret, now, body)
			req.Header.Del("X-Slack-Signature")
			return req
		}, http.StatusUnauthorized},
		{"signature without v0= prefix", func(url string, body []byte) *http.Request {
			req := slacktest.SignedRequest(url, signingSecret, now, body)
			req.Header.Set("X-Slack-Signature", strings.TrimPrefix(req.Header.Get("X-Slack-Signature"), "v0="))
			return req
		}, http.StatusUnauthorized},
		{"1 MB body, correctly signed", func(url string, body []byte) *http.Request {
			big := append(bytes.Clone(body), "&pad="...)
			big = append(big, bytes.Repeat([]byte("a"), 1<<20)...)
			return slacktest.SignedRequest(url, signingSecret, now, big)
		}, http.StatusRequestEntityTooLarge},
	}
	h := bottest.NewRecorder()
	r := newRig(t, h, nil)
	for _, tc := range cases {
		for path, body := range bodies {
			t.Run(tc.name+" "+path, func(t *testing.T) {
				status, _ := bottest.Do(t, tc.build(r.http.URL+path, body))
				if status != tc.status {
					t.Errorf("status = %d, want %d", status, tc.status)
				}
			})
		}
	}
	// Clicks are handled in the background: let any stray one finish.
	if err := r.adapter.Close(bottest.WaitCtx(t)); err != nil {
		t.Fatal(err)
	}
	cmds, clicks := h.Seen()
	if len(cmds) != 0 || len(clicks) != 0 {
		t.Errorf("handler saw %d commands and %d clicks from unverified requests, want none", len(cmds), len(clicks))
	}
	if calls := r.fake.Calls(); len(calls) != 0 {
		t.Errorf("unverified requests caused %d Slack API calls, want none", len(calls))
	}
}

func TestNoSigningSecretRejectsEverything(t *testing.T) {
	h := bottest.NewRecorder()
	r := newRig(t, h, func(o *slack.Options) { o.SigningSecret = "" })
	cmd := slacktest.SlashCommand{ChannelID: channel, UserID: "U0ALICE", Text: "list"}
	// Signed with the empty secret a misconfigured server would "know".
	status, _ := bottest.Do(t, slacktest.SignedRequest(r.http.URL+"/slack/commands", "", time.Now(), cmd.Form()))
	if status != http.StatusUnauthorized {
		t.Errorf("status = %d, want 401", status)
	}
	if cmds, _ := h.Seen(); len(cmds) != 0 {
		t.Errorf("handler ran %d commands without a signing secret configured", len(cmds))
	}
}

func TestNewAdapterNeedsCredentials(t *testing.T) {
	cases := []struct {
		name string
		opts slack.Options
	}{
		{"no bot token", slack.Options{SigningSecret: "s"}},
		{"neither signing secret nor app token", slack.Options{BotToken: "xoxb-1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := slack.NewAdapter(tc.opts); err == nil {
				t.Error("NewAdapter accepted options it cannot work with")
			}
		})
	}
}

func TestSSLCheckIsAnsweredWithoutRunningAnything(t *testing.T) {
	h := bottest.NewRecorder()
	r := newRig(t, h, nil)
	status, _ := bottest.Do(t, slacktest.SignedRequest(r.http.URL+"/slack/commands", signingSecret, time.Now(), []byte("ssl_check=1&token=x")))
	if status != http.StatusOK {
		t.Errorf("status = %d, want 200", status)
	}
	if cmds, _ := h.Seen(); len(cmds) != 0 {
		t.Errorf("ssl_check ran %d commands", len(cmds))
	}
}
