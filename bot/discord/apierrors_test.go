package discord_test

import (
	"crypto/ed25519"
	"encoding/hex"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/bottest"
	"github.com/backupbot/backupbot/bot/discord"
	"github.com/backupbot/backupbot/bot/discord/discordtest"
	"github.com/backupbot/backupbot/internal/promcheck"
)

// A Discord that answers 429 or an HTTP error shows in
// backupbot_chat_api_errors_total, by kind; a call that succeeds counts
// nothing.
func TestChatAPIErrorsCountDiscordsRefusals(t *testing.T) {
	reg := prometheus.NewRegistry()
	errs := bot.NewMetrics(reg).ChatAPIErrors()
	r := newRig(t, bottest.NewRecorder(), func(o *discord.Options) { o.APIErrors = errs })
	ctx := bottest.WaitCtx(t)
	count := func() map[string]float64 {
		return promcheck.Sum(t, reg, "backupbot_chat_api_errors_total", map[string]string{"platform": string(bot.Discord)}, "kind")
	}
	msg := bot.Message{Text: "Backup done"}

	if _, err := r.adapter.Post(ctx, channel, "", msg); err != nil {
		t.Fatal(err)
	}
	if got := count(); len(got) != 0 {
		t.Fatalf("after a post Discord accepted: %v, want no errors counted", got)
	}
	r.fake.RateLimit(discordtest.RouteCreateMessage, discordtest.RateLimit{Times: 2, RetryAfter: 100 * time.Millisecond})
	if _, err := r.adapter.Post(ctx, channel, "", msg); err != nil {
		t.Fatalf("post after two 429s: %v", err)
	}
	bad, err := discord.NewAdapter(discord.Options{BotToken: "revoked", PublicKey: hex.EncodeToString(r.key.Public().(ed25519.PublicKey)), APIURL: r.fake.APIURL(),
		Logger: bottest.Discard(), APIErrors: errs})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Post(ctx, channel, "", msg); err == nil {
		t.Fatal("post with a revoked token succeeded")
	}

	want := map[string]float64{bot.APIRateLimited: 2, bot.APIErrorAnswer: 1}
	got := count()
	for kind, n := range want {
		if got[kind] != n {
			t.Errorf("backupbot_chat_api_errors_total{platform=\"discord\",kind=%q} = %v, want %v (all: %v)", kind, got[kind], n, got)
		}
	}
	promcheck.Metrics(t, promcheck.Exposition(t, reg))
}
