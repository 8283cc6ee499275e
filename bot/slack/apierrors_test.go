package slack_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/bottest"
	"github.com/backupbot/backupbot/bot/slack"
	"github.com/backupbot/backupbot/internal/promcheck"
)

// A Slack that answers 429, an error ("ok": false) or nothing at all shows
// in backupbot_chat_api_errors_total, by kind, in an exposition promtool
// accepts; a call that succeeds counts nothing.
func TestChatAPIErrorsCountSlacksRefusals(t *testing.T) {
	reg := prometheus.NewRegistry()
	errs := bot.NewMetrics(reg).ChatAPIErrors()
	r := newRig(t, bottest.NewRecorder(), func(o *slack.Options) { o.APIErrors = errs })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	msg := bot.Message{Text: "Backup done"}

	if _, err := r.adapter.Post(ctx, channel, "", msg); err != nil {
		t.Fatal(err)
	}
	if got := promcheck.Sum(t, reg, "backupbot_chat_api_errors_total", map[string]string{"platform": string(bot.Slack)}, "kind"); len(got) != 0 {
		t.Fatalf("after a post Slack accepted: %v, want no errors counted", got)
	}

	// Two 429s, then the post goes through.
	r.fake.RateLimit("chat.postMessage", 2, 1)
	if _, err := r.adapter.Post(ctx, channel, "", msg); err != nil {
		t.Fatalf("post after two 429s: %v", err)
	}
	// A revoked token: Slack answers 200 with "ok": false.
	bad, err := slack.NewAdapter(slack.Options{BotToken: "xoxb-revoked", SigningSecret: signingSecret, APIURL: r.fake.APIURL(),
		Logger: bottest.Discard(), APIErrors: errs})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Post(ctx, channel, "", msg); err == nil || !strings.Contains(err.Error(), "invalid_auth") {
		t.Fatalf("post with a revoked token: %v, want invalid_auth", err)
	}
	// Slack unreachable.
	gone, err := slack.NewAdapter(slack.Options{BotToken: botToken, SigningSecret: signingSecret, APIURL: "http://127.0.0.1:1/api/",
		Logger: bottest.Discard(), APIErrors: errs})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gone.Post(ctx, channel, "", msg); err == nil {
		t.Fatal("post to an unreachable Slack succeeded")
	}

	want := map[string]float64{bot.APIRateLimited: 2, bot.APIErrorAnswer: 1, bot.APIUnreachable: 1}
	got := promcheck.Sum(t, reg, "backupbot_chat_api_errors_total", map[string]string{"platform": string(bot.Slack)}, "kind")
	for kind, n := range want {
		if got[kind] != n {
			t.Errorf("backupbot_chat_api_errors_total{platform=\"slack\",kind=%q} = %v, want %v (all: %v)", kind, got[kind], n, got)
		}
	}
	promcheck.Metrics(t, promcheck.Exposition(t, reg))
}
