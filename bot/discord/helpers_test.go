package discord_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/discord"
	"github.com/backupbot/backupbot/bot/discord/discordtest"
)

const (
	botToken = "test-bot-token.Xy9.kq2"
	appID    = "1200000000000000001"
	channel  = "1110000000000000001"
)

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

// rig is one adapter wired to a fake Discord and served over HTTP, with
// the key pair Discord would sign with.
type rig struct {
	fake    *discordtest.Server
	adapter *discord.Adapter
	http    *httptest.Server
	key     ed25519.PrivateKey
}

func newRig(t *testing.T, h bot.Handler, tweak func(*discord.Options)) *rig {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fake := discordtest.New(discordtest.Options{BotToken: botToken, DMChannels: []string{dmChannel}})
	t.Cleanup(fake.Close)
	opts := discord.Options{
		BotToken:     botToken,
		PublicKey:    hex.EncodeToString(pub),
		AppID:        appID,
		APIURL:       fake.APIURL(),
		Handler:      h,
		Logger:       discard(),
		EditInterval: 50 * time.Millisecond,
	}
	if tweak != nil {
		tweak(&opts)
	}
	a, err := discord.NewAdapter(opts)
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
	return &rig{fake: fake, adapter: a, http: srv, key: priv}
}

const dmChannel = "1110000000000000999"

// send posts body to the interactions endpoint, signed now.
func (r *rig) send(t *testing.T, body []byte) (int, []byte) {
	t.Helper()
	return do(t, discordtest.SignedRequest(r.http.URL+"/discord/interactions", r.key, time.Now(), body))
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

// response is Discord's view of an interaction response.
type response struct {
	Type int `json:"type"`
	Data *struct {
		Content    string          `json:"content"`
		Flags      int             `json:"flags"`
		Embeds     []embed         `json:"embeds"`
		Components []actionRow     `json:"components"`
		Mentions   json.RawMessage `json:"allowed_mentions"`
	} `json:"data"`
}

type embed struct {
	Fields []struct {
		Name   string `json:"name"`
		Value  string `json:"value"`
		Inline bool   `json:"inline"`
	} `json:"fields"`
}

type actionRow struct {
	Type       int `json:"type"`
	Components []struct {
		Type     int    `json:"type"`
		Style    int    `json:"style"`
		Label    string `json:"label"`
		CustomID string `json:"custom_id"`
	} `json:"components"`
}

func decodeResponse(t *testing.T, body []byte) response {
	t.Helper()
	var r response
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("interaction response is not JSON: %v\n%s", err, body)
	}
	return r
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func waitCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}
