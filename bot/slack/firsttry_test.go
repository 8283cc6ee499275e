package slack_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/bottest"
	"github.com/backupbot/backupbot/bot/slack"
	"github.com/backupbot/backupbot/bot/slack/slacktest"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/storage"
)

// TestFirstTryOfANewSlackUser is a fresh install's first chat: the
// default policy binds nobody on Slack, yet the user gets help, and the
// refusal of a create tells them their ID as the policy spells it and the
// configuration key that would give them a role. Nothing is queued.
func TestFirstTryOfANewSlackUser(t *testing.T) {
	rdb := testRedis(t)
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
	fake := slacktest.New(slacktest.Options{BotToken: botToken})
	t.Cleanup(fake.Close)
	adapter, err := slack.NewAdapter(slack.Options{
		BotToken: botToken, SigningSecret: signingSecret, APIURL: fake.APIURL(), Handler: router, Logger: bottest.Discard(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = adapter.Close(ctx)
	})
	router.Register(bot.Slack, adapter)
	mux := http.NewServeMux()
	adapter.Routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	slash := func(text string) string {
		t.Helper()
		cmd := slacktest.SlashCommand{ChannelID: channel, UserID: "U0NEWBIE", UserName: "newbie", Text: text}
		status, body := bottest.Do(t, slacktest.SignedRequest(srv.URL+"/slack/commands", signingSecret, time.Now(), cmd.Form()))
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
	keys, err := rdb.Keys(context.Background(), "backupbot:job:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Errorf("a refused create left job records %v", keys)
	}
}
