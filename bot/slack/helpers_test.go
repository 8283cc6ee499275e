package slack_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot"
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

// recorder is a bot.Handler that records what it is given and answers
// with fixed replies; with block set it waits until its context ends.
type recorder struct {
	mu        sync.Mutex
	commands  []bot.Incoming
	clicks    []bot.Click
	cancelled chan struct{} // closed when a blocked call saw its ctx end
	block     bool
	reply     bot.Reply
	click     bot.Reply
}

func newRecorder() *recorder {
	return &recorder{
		cancelled: make(chan struct{}),
		reply:     bot.Reply{Message: bot.Message{Text: "Queued as job *7f3a*."}, Ephemeral: true},
		click:     bot.Reply{Message: bot.Message{Text: "Restore confirmed."}, Ephemeral: true},
	}
}

func (r *recorder) HandleCommand(ctx context.Context, in bot.Incoming) bot.Reply {
	r.mu.Lock()
	r.commands = append(r.commands, in)
	block := r.block
	r.mu.Unlock()
	if block {
		<-ctx.Done()
		close(r.cancelled)
		return bot.Reply{Message: bot.Message{Text: "Nothing was started: too late."}, Ephemeral: true}
	}
	return r.reply
}

func (r *recorder) HandleClick(ctx context.Context, c bot.Click) bot.Reply {
	r.mu.Lock()
	r.clicks = append(r.clicks, c)
	r.mu.Unlock()
	return r.click
}

func (r *recorder) seen() ([]bot.Incoming, []bot.Click) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bot.Incoming(nil), r.commands...), append([]bot.Click(nil), r.clicks...)
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
	opts := slack.Options{
		BotToken:      botToken,
		SigningSecret: signingSecret,
		AppToken:      appToken,
		APIURL:        fake.APIURL(),
		Handler:       h,
		Logger:        discard(),
		EditInterval:  50 * time.Millisecond,
	}
	if tweak != nil {
		tweak(&opts)
	}
	a, err := slack.NewAdapter(opts)
	if err != nil {
		t.Fatalf("NewAdapter: %v", err)
	}
	mux := http.NewServeMux()
	a.Routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &rig{fake: fake, adapter: a, http: srv}
}

// do sends req and returns the status and body.
func do(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return resp.StatusCode, body
}

// slashAnswer is Slack's view of a slash command's HTTP answer.
type slashAnswer struct {
	ResponseType string            `json:"response_type"`
	Text         string            `json:"text"`
	Blocks       []json.RawMessage `json:"blocks"`
}

func decodeAnswer(t *testing.T, body []byte) slashAnswer {
	t.Helper()
	var a slashAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("slash command answer is not JSON: %v\n%s", err, body)
	}
	return a
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func waitCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}
