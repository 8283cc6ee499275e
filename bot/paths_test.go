package bot_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/policy"
)

// Issue 11's point 6 through the router: a Slack user with the operator
// role is refused `create --path /tmp/x` and `restore --to /etc` under the
// default policy, and a rule granting those prefixes lets them through.
func TestOperatorPathsThroughTheRouter(t *testing.T) {
	rdb := redisClient(t)
	quiet := slog.New(slog.DiscardHandler)
	client := jobs.NewClient(nil, rdb, jobs.ClientOptions{Logger: quiet})
	defer client.Close()
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
			Policy: holder, Logger: quiet, Surfaces: map[bot.Platform]bot.Surface{bot.Slack: &threadSurface{}},
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
