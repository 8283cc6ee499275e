package slacktest

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// SlashCommand is what Slack sends for one slash command, in the fields
// Slack's form (HTTP) and JSON payload (Socket Mode) both carry.
type SlashCommand struct {
	TeamID, TeamDomain     string
	ChannelID, ChannelName string
	UserID, UserName       string
	Command                string // "/backup" when empty
	Text                   string
	ResponseURL            string
	// TriggerID is unique per command in Slack; empty draws a fresh one
	// each time the command is encoded (encode once to replay a request).
	TriggerID string
}

// newTriggerID returns a trigger id shaped like Slack's, unique per call.
func newTriggerID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "1700000000." + hex.EncodeToString(b[:])
}

func (c SlashCommand) fields() map[string]string {
	orDefault := func(v, d string) string {
		if v == "" {
			return d
		}
		return v
	}
	return map[string]string{
		"token":                 "deprecated-verification-token",
		"team_id":               orDefault(c.TeamID, "T0FAKE"),
		"team_domain":           orDefault(c.TeamDomain, "fake"),
		"channel_id":            c.ChannelID,
		"channel_name":          orDefault(c.ChannelName, "backups"),
		"user_id":               c.UserID,
		"user_name":             c.UserName,
		"command":               orDefault(c.Command, "/backup"),
		"text":                  c.Text,
		"api_app_id":            "A0FAKE",
		"is_enterprise_install": "false",
		"response_url":          orDefault(c.ResponseURL, "https://hooks.slack.com/commands/T0FAKE/1/fake"),
		"trigger_id":            orDefault(c.TriggerID, newTriggerID()),
	}
}

// Form is the slash command as Slack POSTs it over HTTP:
// application/x-www-form-urlencoded.
func (c SlashCommand) Form() []byte {
	v := url.Values{}
	for k, f := range c.fields() {
		v.Set(k, f)
	}
	return []byte(v.Encode())
}

// BlockAction is one button click (a block_actions interaction).
type BlockAction struct {
	UserID, UserName string
	ChannelID        string
	// MessageTS is the ts of the message holding the button; ThreadTS its
	// thread ("" for a top-level message).
	MessageTS, ThreadTS string
	ActionID, Value     string
	Ephemeral           bool
	ResponseURL         string
}

// JSON is the interaction payload exactly as Slack shapes a block_actions
// callback.
func (a BlockAction) JSON() json.RawMessage {
	container := map[string]any{"type": "message", "message_ts": a.MessageTS, "channel_id": a.ChannelID,
		"is_ephemeral": a.Ephemeral}
	message := map[string]any{"type": "message", "ts": a.MessageTS, "text": "", "user": "U0BOT", "bot_id": "B0BOT"}
	if a.ThreadTS != "" {
		container["thread_ts"] = a.ThreadTS
		message["thread_ts"] = a.ThreadTS
	}
	responseURL := a.ResponseURL
	if responseURL == "" {
		responseURL = "https://hooks.slack.com/actions/T0FAKE/1/fake"
	}
	payload := map[string]any{
		"type":         "block_actions",
		"user":         map[string]any{"id": a.UserID, "username": a.UserName, "name": a.UserName, "team_id": "T0FAKE"},
		"api_app_id":   "A0FAKE",
		"token":        "deprecated-verification-token",
		"container":    container,
		"trigger_id":   "1.2.fake",
		"team":         map[string]any{"id": "T0FAKE", "domain": "fake"},
		"enterprise":   nil,
		"channel":      map[string]any{"id": a.ChannelID, "name": "backups"},
		"message":      message,
		"state":        map[string]any{"values": map[string]any{}},
		"response_url": responseURL,
		"actions": []map[string]any{{
			"action_id": a.ActionID, "block_id": "actions-0", "type": "button", "value": a.Value,
			"text":      map[string]any{"type": "plain_text", "text": a.ActionID, "emoji": true},
			"action_ts": "1700000000.999999",
		}},
	}
	b, err := json.Marshal(payload)
	if err != nil {
		// Only maps of strings, bools and nil: marshalling cannot fail.
		panic(err)
	}
	return b
}

// Form is the interaction as Slack POSTs it over HTTP: one form field,
// payload, holding the JSON.
func (a BlockAction) Form() []byte {
	return []byte(url.Values{"payload": {string(a.JSON())}}.Encode())
}

// Signature is Slack's v0 request signature of body sent at ts.
func Signature(signingSecret string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, []byte(signingSecret))
	mac.Write([]byte("v0:" + strconv.FormatInt(ts.Unix(), 10) + ":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// SignedRequest builds a POST to target carrying body, signed the way Slack
// signs it (X-Slack-Request-Timestamp, X-Slack-Signature).
func SignedRequest(target, signingSecret string, ts time.Time, body []byte) *http.Request {
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		panic(err) // target is a test-built URL
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("X-Slack-Signature", Signature(signingSecret, ts, body))
	return req
}
