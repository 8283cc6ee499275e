package slack_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/bottest"
	"github.com/backupbot/backupbot/bot/slack"
	"github.com/backupbot/backupbot/bot/slack/slacktest"
)

// TestSocketModeHandlesCommandsAndClicksLikeHTTP connects the adapter to a
// fake Socket Mode endpoint, delivers a slash command and a button click
// in envelopes, and checks both are acked and handled like over HTTP.
func TestSocketModeHandlesCommandsAndClicksLikeHTTP(t *testing.T) {
	h := bottest.NewRecorder()
	r := newRig(t, h, nil)
	ctx, stop := context.WithCancel(bottest.WaitCtx(t))
	done := make(chan error, 1)
	go func() { done <- r.adapter.RunSocketMode(ctx) }()

	ack, err := r.fake.SendSlashCommand(ctx, slacktest.SlashCommand{ChannelID: channel, UserID: "U0ALICE", UserName: "alice", Text: "verify --all"})
	if err != nil {
		t.Fatal(err)
	}
	var ans slashAnswer
	if err := json.Unmarshal(ack.Payload, &ans); err != nil {
		t.Fatalf("slash command ack payload %q: %v", ack.Payload, err)
	}
	if ans.ResponseType != "ephemeral" || !strings.Contains(ans.Text, "Queued as job") {
		t.Errorf("ack payload = %+v, want the handler's ephemeral reply", ans)
	}

	click := slacktest.BlockAction{UserID: "U0BOB", UserName: "bob", ChannelID: channel, MessageTS: "1700000000.000007",
		ThreadTS: "1700000000.000005", ActionID: "job.retry", Value: "job-9"}
	ack, err = r.fake.SendBlockAction(ctx, click)
	if err != nil {
		t.Fatal(err)
	}
	if len(ack.Payload) != 0 && string(ack.Payload) != "null" {
		t.Errorf("click ack carries payload %s, want a bare ack", ack.Payload)
	}
	calls, err := r.fake.WaitCalls(ctx, "chat.postEphemeral", 1)
	if err != nil {
		t.Fatal(err)
	}
	if calls[0].Form.Get("user") != "U0BOB" || calls[0].Form.Get("thread_ts") != click.ThreadTS {
		t.Errorf("click answer went to %v, want the clicker in the job's thread", calls[0].Form)
	}

	cmds, clicks := h.Seen()
	if len(cmds) != 1 || cmds[0].From.UserID != "U0ALICE" || cmds[0].Text != "verify --all" || len(cmds[0].From.Groups) == 0 {
		t.Errorf("commands = %+v, want alice's verify --all with her groups", cmds)
	}
	want := bot.Click{From: bot.Identity{Platform: bot.Slack, UserID: "U0BOB", UserName: "bob", Groups: []string{"S0OPS", "ops"}},
		Message: bot.MessageRef{Channel: channelRef, ID: click.MessageTS, Thread: click.ThreadTS}, ActionID: "job.retry", Value: "job-9"}
	if len(clicks) != 1 || !sameClick(clicks[0], want) {
		t.Errorf("clicks = %+v, want %+v", clicks, want)
	}
	if n := len(r.fake.Answered("apps.connections.open")); n != 1 {
		t.Errorf("apps.connections.open called %d times, want 1", n)
	}

	stop()
	if err := <-done; err != nil {
		t.Errorf("RunSocketMode after cancel = %v, want nil", err)
	}
}

func sameClick(a, b bot.Click) bool {
	return a.From.UserID == b.From.UserID && a.From.UserName == b.From.UserName && a.From.Platform == b.From.Platform &&
		strings.Join(a.From.Groups, ",") == strings.Join(b.From.Groups, ",") &&
		a.Message == b.Message && a.ActionID == b.ActionID && a.Value == b.Value
}

func TestSocketModeNeedsAnAppToken(t *testing.T) {
	r := newRig(t, bottest.NewRecorder(), func(o *slack.Options) { o.AppToken = "" })
	err := r.adapter.RunSocketMode(context.Background())
	if err == nil || !strings.Contains(err.Error(), "SLACK_APP_TOKEN") {
		t.Errorf("err = %v, want one telling to set SLACK_APP_TOKEN", err)
	}
}

func TestSocketModeWrongAppTokenFails(t *testing.T) {
	r := newRig(t, bottest.NewRecorder(), func(o *slack.Options) { o.AppToken = "xapp-wrong" })
	err := r.adapter.RunSocketMode(bottest.WaitCtx(t))
	if err == nil || !strings.Contains(err.Error(), "invalid_auth") {
		t.Errorf("err = %v, want Slack's invalid_auth", err)
	}
}
