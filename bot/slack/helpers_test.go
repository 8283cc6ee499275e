package slack_test

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/bottest"
	"github.com/backupbot/backupbot/bot/slack"
	"github.com/backupbot/backupbot/bot/slack/slacktest"
)

const (
	botToken      = "xoxb-test-bot-token"
	appToken      = "xapp-test-app-token"
	signingSecret = "test-signing-secret-8f2c"
	channel       = "C0BACKUPS"
	// channelRef is how the adapter hands that channel to the router: its ID
	// and, after "|", the name Slack sent, so policy rules can name channels.
	channelRef = "C0BACKUPS|backups"
)

// groups are the fake workspace's user groups.
var groups = []slacktest.Group{
	{ID: "S0ADMINS", Handle: "backup-admins", Name: "Backup admins", Users: []string{"U0ALICE"}},
	{ID: "S0OPS", Handle: "ops", Name: "Ops", Users: []string{"U0ALICE", "U0BOB"}},
}

// rig is one adapter wired to a fake Slack and served over HTTP.
type rig struct {
	fake    *slacktest.Server
	adapter *slack.Adapter
	http    *httptest.Server
}

func newRig(t *testing.T, h bot.Handler, tweak func(*slack.Options)) *rig {
	t.Helper()
	fake := slacktest.New(slacktest.Options{BotToken: botToken, AppToken: appToken, Groups: groups})
	t.Cleanup(fake.Close)
	a, srv := bottest.Start(t, slack.NewAdapter, slack.Options{
		BotToken:      botToken,
		SigningSecret: signingSecret,
		AppToken:      appToken,
		APIURL:        fake.APIURL(),
		Handler:       h,
		Logger:        bottest.Discard(),
		EditInterval:  50 * time.Millisecond,
	}, tweak)
	return &rig{fake: fake, adapter: a, http: srv}
}

// slashAnswer is Slack's view of a slash command's HTTP answer.
type slashAnswer struct {
	ResponseType string            `json:"response_type"`
	Text         string            `json:"text"`
	Blocks       []json.RawMessage `json:"blocks"`
}

func decodeAnswer(t *testing.T, body []byte) slashAnswer {
	t.Helper()
	return bottest.DecodeJSON[slashAnswer](t, "slash command answer", body)
}
