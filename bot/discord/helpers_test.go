package discord_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/bottest"
	"github.com/backupbot/backupbot/bot/discord"
	"github.com/backupbot/backupbot/bot/discord/discordtest"
)

const (
	botToken = "test-bot-token.Xy9.kq2"
	appID    = "1200000000000000001"
	channel  = "1110000000000000001"
)

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
	a, srv := bottest.Start(t, discord.NewAdapter, discord.Options{
		BotToken:     botToken,
		PublicKey:    hex.EncodeToString(pub),
		AppID:        appID,
		APIURL:       fake.APIURL(),
		Handler:      h,
		Logger:       bottest.Discard(),
		EditInterval: 50 * time.Millisecond,
	}, tweak)
	return &rig{fake: fake, adapter: a, http: srv, key: priv}
}

const dmChannel = "1110000000000000999"

// send posts body to the interactions endpoint, signed now.
func (r *rig) send(t *testing.T, body []byte) (int, []byte) {
	t.Helper()
	return bottest.Do(t, discordtest.SignedRequest(r.http.URL+"/discord/interactions", r.key, time.Now(), body))
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
	return bottest.DecodeJSON[response](t, "interaction response", body)
}
