package discordtest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"time"
)

// Interaction types and the thread channel type, as Discord numbers them.
const (
	typePing             = 1
	typeCommand          = 2
	typeComponent        = 3
	channelText          = 0
	channelPublicThread  = 11
	componentButton      = 2
	commandChatInput     = 1
	optionString         = 3
	defaultGuild         = "1100000000000000001"
	defaultApplicationID = "1200000000000000001"
)

// Sign returns the X-Signature-Ed25519 value Discord sends: the hex
// Ed25519 signature of the timestamp followed by the body.
func Sign(key ed25519.PrivateKey, timestamp string, body []byte) string {
	msg := append([]byte(timestamp), body...)
	return hex.EncodeToString(ed25519.Sign(key, msg))
}

// SignedRequest is the POST Discord makes to an interactions endpoint,
// signed with key at time at.
func SignedRequest(url string, key ed25519.PrivateKey, at time.Time, body []byte) *http.Request {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		panic(err) // url comes from the test itself
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Discord-Interactions/1.0 (+https://discord.com)")
	req.Header.Set("X-Signature-Timestamp", ts)
	req.Header.Set("X-Signature-Ed25519", Sign(key, ts, body))
	return req
}

// Ping is the PING interaction Discord sends to check the endpoint.
func Ping() []byte {
	return mustJSON(map[string]any{"id": "1300000000000000099", "application_id": defaultApplicationID, "type": typePing,
		"token": "ping-token", "version": 1, "user": map[string]any{"id": "1", "username": "discord"}})
}

// Who is the person and place of an interaction.
type Who struct {
	// AppID is the application id (a default when empty).
	AppID string
	// GuildID is the server; with DM set there is none.
	GuildID string
	// ChannelID is where the interaction happened; a thread's id when
	// ParentID is set.
	ChannelID string
	// ParentID makes ChannelID a public thread inside channel ParentID.
	ParentID string
	UserID   string
	UserName string
	// Roles are the member's guild role ids.
	Roles []string
	// DM sends the interaction from a direct message: user, no member.
	DM bool
	// Token is the interaction token (a default when empty).
	Token string
}

func (w Who) fields(id string, typ int) map[string]any {
	app := w.AppID
	if app == "" {
		app = defaultApplicationID
	}
	token := w.Token
	if token == "" {
		token = "interaction-token-" + id
	}
	user := map[string]any{"id": w.UserID, "username": w.UserName, "global_name": w.UserName, "discriminator": "0", "avatar": nil}
	channel := map[string]any{"id": w.ChannelID, "type": channelText, "name": "backups"}
	if w.ParentID != "" {
		channel = map[string]any{"id": w.ChannelID, "type": channelPublicThread, "name": "a thread", "parent_id": w.ParentID}
	}
	f := map[string]any{
		"id": id, "application_id": app, "type": typ, "token": token, "version": 1,
		"channel_id": w.ChannelID, "channel": channel, "locale": "en-US", "app_permissions": "2248473465835073",
		"entitlements": []any{}, "authorizing_integration_owners": map[string]any{"0": defaultGuild},
	}
	if w.DM {
		f["user"] = user
		f["context"] = 1
		channel["type"] = 1
		return f
	}
	guild := w.GuildID
	if guild == "" {
		guild = defaultGuild
	}
	roles := w.Roles
	if roles == nil {
		roles = []string{}
	}
	f["guild_id"] = guild
	f["guild_locale"] = "en-US"
	f["context"] = 0
	f["member"] = map[string]any{"user": user, "roles": roles, "nick": nil, "joined_at": "2024-01-02T03:04:05.000000+00:00",
		"permissions": "2248473465835073", "deaf": false, "mute": false, "flags": 0, "pending": false}
	return f
}

// SlashCommand is one use of an application command.
type SlashCommand struct {
	Who
	// ID is the interaction id, unique per interaction in Discord; empty
	// draws a fresh one each time JSON is called (call it once to replay).
	ID string
	// Name is the command's name ("backup" when empty).
	Name string
	// Text is the value of the "command" option; with NoOption set the
	// option is left out, as when the user typed /backup alone.
	Text     string
	NoOption bool
}

// JSON is the interaction as Discord POSTs it.
func (c SlashCommand) JSON() []byte {
	id, name := c.ID, c.Name
	if id == "" {
		id = newSnowflake()
	}
	if name == "" {
		name = "backup"
	}
	data := map[string]any{"id": "1250000000000000001", "name": name, "type": commandChatInput}
	if !c.NoOption {
		data["options"] = []any{map[string]any{"name": "command", "type": optionString, "value": c.Text}}
	}
	f := c.fields(id, typeCommand)
	f["data"] = data
	return mustJSON(f)
}

// ButtonClick is a click on a button of a message the bot posted.
type ButtonClick struct {
	Who
	ID string
	// MessageID is the message the button is on.
	MessageID string
	// CustomID is the button's custom_id.
	CustomID string
}

// JSON is the interaction as Discord POSTs it.
func (c ButtonClick) JSON() []byte {
	id := c.ID
	if id == "" {
		id = "1300000000000000002"
	}
	f := c.fields(id, typeComponent)
	f["data"] = map[string]any{"custom_id": c.CustomID, "component_type": componentButton}
	f["message"] = map[string]any{"id": c.MessageID, "channel_id": c.ChannelID, "type": 0, "content": "a message with buttons",
		"author": map[string]any{"id": "1000000000000000001", "username": "backupbot", "bot": true},
		"components": []any{map[string]any{"type": 1, "components": []any{
			map[string]any{"type": componentButton, "style": 1, "label": "Confirm", "custom_id": c.CustomID}}}},
		"flags": 0, "timestamp": "2025-01-15T10:00:00.000000+00:00"}
	return mustJSON(f)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// newSnowflake returns a fresh id shaped like Discord's (19 digits).
func newSnowflake() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(1e17)) // crypto/rand never fails
	return "13" + fmt.Sprintf("%017d", n)
}
