package discord_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/bottest"
	"github.com/backupbot/backupbot/bot/discord"
	"github.com/backupbot/backupbot/bot/discord/discordtest"
)

var alice = discordtest.Who{ChannelID: channel, UserID: "2000000000000000001", UserName: "alice",
	Roles: []string{"3000000000000000001", "3000000000000000002"}}

func TestSignedPingGetsPong(t *testing.T) {
	h := bottest.NewRecorder()
	r := newRig(t, h, nil)

	status, body := r.send(t, discordtest.Ping())

	if status != http.StatusOK {
		t.Fatalf("status = %d (%s), want 200", status, body)
	}
	if got := strings.TrimSpace(string(body)); got != `{"type":1}` {
		t.Errorf("answer = %s, want {\"type\":1} (PONG)", got)
	}
	if cmds, clicks := h.Seen(); len(cmds)+len(clicks) != 0 {
		t.Errorf("a PING reached the handler: %v %v", cmds, clicks)
	}
}

// TestUnsignedRequestsAreRejected sends requests Discord did not sign (or
// that were changed or replayed) and checks each gets 401 and runs nothing.
func TestUnsignedRequestsAreRejected(t *testing.T) {
	h := bottest.NewRecorder()
	r := newRig(t, h, nil)
	_, otherKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	body := discordtest.SlashCommand{Who: alice, Text: "restore --target data --force"}.JSON()
	url := r.http.URL + "/discord/interactions"
	now := time.Now()

	cases := []struct {
		name string
		req  func() *http.Request
	}{
		{"no signature headers", func() *http.Request {
			req := discordtest.SignedRequest(url, r.key, now, body)
			req.Header.Del("X-Signature-Ed25519")
			req.Header.Del("X-Signature-Timestamp")
			return req
		}},
		{"no signature", func() *http.Request {
			req := discordtest.SignedRequest(url, r.key, now, body)
			req.Header.Del("X-Signature-Ed25519")
			return req
		}},
		{"no timestamp", func() *http.Request {
			req := discordtest.SignedRequest(url, r.key, now, body)
			req.Header.Del("X-Signature-Timestamp")
			return req
		}},
		{"signature not hex", func() *http.Request {
			req := discordtest.SignedRequest(url, r.key, now, body)
			req.Header.Set("X-Signature-Ed25519", "zz"+req.Header.Get("X-Signature-Ed25519")[2:])
			return req
		}},
		{"signed with another key", func() *http.Request { return discordtest.SignedRequest(url, otherKey, now, body) }},
		{"body tampered after signing", func() *http.Request {
			req := discordtest.SignedRequest(url, r.key, now, body)
			tampered := bytes.Replace(body, []byte("--target data"), []byte("--target all "), 1)
			return withBody(req, tampered)
		}},
		{"timestamp changed after signing", func() *http.Request {
			req := discordtest.SignedRequest(url, r.key, now, body)
			req.Header.Set("X-Signature-Timestamp", strconv.FormatInt(now.Unix()+1, 10))
			return req
		}},
		{"stale (replayed ten minutes later)", func() *http.Request {
			return discordtest.SignedRequest(url, r.key, now.Add(-10*time.Minute), body)
		}},
		{"from the future", func() *http.Request {
			return discordtest.SignedRequest(url, r.key, now.Add(10*time.Minute), body)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, answer := bottest.Do(t, tc.req())
			if status != http.StatusUnauthorized {
				t.Errorf("status = %d (%s), want 401", status, answer)
			}
		})
	}
	if cmds, _ := h.Seen(); len(cmds) != 0 {
		t.Errorf("the handler ran %d commands from unsigned requests", len(cmds))
	}
	if n := len(r.fake.Calls()); n != 0 {
		t.Errorf("%d Discord API calls made for unsigned requests", n)
	}
}

func withBody(req *http.Request, body []byte) *http.Request {
	clone, err := http.NewRequest(req.Method, req.URL.String(), bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	clone.Header = req.Header.Clone()
	return clone
}

func TestOversizedBodyIsRefusedBeforeAnythingRuns(t *testing.T) {
	h := bottest.NewRecorder()
	r := newRig(t, h, func(o *discord.Options) { o.MaxBodyBytes = 4 << 10 })
	body := discordtest.SlashCommand{Who: alice, Text: strings.Repeat("x", 8<<10)}.JSON()

	status, _ := r.send(t, body)

	if status != http.StatusRequestEntityTooLarge {
		t.Errorf("status = %d, want 413", status)
	}
	if cmds, _ := h.Seen(); len(cmds) != 0 {
		t.Errorf("the handler ran an oversized command")
	}
}

func TestSlashCommandReachesHandlerAsTheMember(t *testing.T) {
	h := bottest.NewRecorder()
	r := newRig(t, h, nil)

	status, body := r.send(t, discordtest.SlashCommand{Who: alice, Text: "create --type full --target data"}.JSON())

	if status != http.StatusOK {
		t.Fatalf("status = %d (%s)", status, body)
	}
	resp := decodeResponse(t, body)
	if resp.Type != 4 || resp.Data == nil {
		t.Fatalf("response = %s, want type 4 (CHANNEL_MESSAGE_WITH_SOURCE)", body)
	}
	if resp.Data.Flags != 64 {
		t.Errorf("flags = %d, want 64 (ephemeral) for an ephemeral reply", resp.Data.Flags)
	}
	if resp.Data.Content != "Queued as job **7f3a**." {
		t.Errorf("content = %q, want the reply with Discord's **bold**", resp.Data.Content)
	}
	if string(resp.Data.Mentions) != `{"parse":[],"replied_user":false}` {
		t.Errorf("allowed_mentions = %s, want none parsed (no pings from quoted text)", resp.Data.Mentions)
	}
	cmds, _ := h.Seen()
	if len(cmds) != 1 {
		t.Fatalf("handler got %d commands, want 1", len(cmds))
	}
	want := bot.Incoming{
		From:    bot.Identity{Platform: bot.Discord, UserID: alice.UserID, UserName: "alice", Groups: alice.Roles},
		Channel: channel,
		Text:    "create --type full --target data",
	}
	if got := cmds[0]; got.From.Platform != want.From.Platform || got.From.UserID != want.From.UserID ||
		got.From.UserName != want.From.UserName || !slices.Equal(got.From.Groups, want.From.Groups) ||
		got.Channel != want.Channel || got.Thread != "" || got.Text != want.Text {
		t.Errorf("Incoming = %+v, want %+v", got, want)
	}
}

func TestWhereAndWhoOfACommand(t *testing.T) {
	cases := []struct {
		name        string
		cmd         discordtest.SlashCommand
		wantChannel string
		wantThread  string
		wantGroups  []string
		wantText    string
	}{
		{"typed in a thread", discordtest.SlashCommand{Who: discordtest.Who{ChannelID: "1120000000000000001", ParentID: channel,
			UserID: "2000000000000000002", UserName: "bob", Roles: []string{"3000000000000000003"}}, Text: "status 7f3a"},
			channel, "1120000000000000001", []string{"3000000000000000003"}, "status 7f3a"},
		{"direct message", discordtest.SlashCommand{Who: discordtest.Who{ChannelID: dmChannel, UserID: "2000000000000000003",
			UserName: "carol", DM: true}, Text: "help"}, dmChannel, "", nil, "help"},
		{"/backup with no text", discordtest.SlashCommand{Who: alice, NoOption: true}, channel, "", alice.Roles, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := bottest.NewRecorder()
			r := newRig(t, h, nil)
			if status, body := r.send(t, tc.cmd.JSON()); status != http.StatusOK {
				t.Fatalf("status = %d (%s)", status, body)
			}
			cmds, _ := h.Seen()
			if len(cmds) != 1 {
				t.Fatalf("handler got %d commands, want 1", len(cmds))
			}
			in := cmds[0]
			if in.Channel != tc.wantChannel || in.Thread != tc.wantThread || in.Text != tc.wantText ||
				in.From.UserID != tc.cmd.UserID || in.From.UserName != tc.cmd.UserName || !slices.Equal(in.From.Groups, tc.wantGroups) {
				t.Errorf("Incoming = %+v, want channel %s thread %q text %q from %s (%s) with groups %v",
					in, tc.wantChannel, tc.wantThread, tc.wantText, tc.cmd.UserID, tc.cmd.UserName, tc.wantGroups)
			}
		})
	}
}

func TestVisibleReplyHasNoEphemeralFlagAndShowsFieldsAndButtons(t *testing.T) {
	h := bottest.NewRecorder()
	h.Reply = bot.Reply{Message: bot.Message{
		Text:   "Backups of `data`:",
		Fields: []bot.Field{{Label: "Latest", Value: "7f3a · 84 MB"}, {Label: "Count", Value: ""}},
		Buttons: []bot.Button{
			{ActionID: bot.ActionConfirm, Label: "Confirm", Value: "job-1", Style: "primary"},
			{ActionID: bot.ActionDeny, Label: "Deny", Value: "appr-9", Style: "danger"},
			{ActionID: bot.ActionCancel, Label: "Cancel", Value: "job-1"},
		},
	}}
	r := newRig(t, h, nil)

	_, body := r.send(t, discordtest.SlashCommand{Who: alice, Text: "list"}.JSON())

	resp := decodeResponse(t, body)
	if resp.Type != 4 || resp.Data.Flags != 0 {
		t.Errorf("type %d flags %d, want type 4 without the ephemeral flag", resp.Type, resp.Data.Flags)
	}
	if len(resp.Data.Embeds) != 1 || len(resp.Data.Embeds[0].Fields) != 2 {
		t.Fatalf("embeds = %+v, want one embed with the two fields", resp.Data.Embeds)
	}
	f := resp.Data.Embeds[0].Fields
	if f[0].Name != "Latest" || f[0].Value != "7f3a · 84 MB" || f[1].Value != "\u200b" {
		t.Errorf("fields = %+v, want label/value pairs (an empty value as a zero-width space)", f)
	}
	if len(resp.Data.Components) != 1 || resp.Data.Components[0].Type != 1 || len(resp.Data.Components[0].Components) != 3 {
		t.Fatalf("components = %+v, want one action row of three buttons", resp.Data.Components)
	}
	var styles []int
	var ids []string
	for _, b := range resp.Data.Components[0].Components {
		if b.Type != 2 {
			t.Errorf("component type %d, want 2 (button)", b.Type)
		}
		styles = append(styles, b.Style)
		ids = append(ids, b.CustomID)
	}
	if !slices.Equal(styles, []int{1, 4, 2}) {
		t.Errorf("styles = %v, want primary 1, danger 4, secondary 2", styles)
	}
	if !slices.Equal(ids, []string{"confirm|job-1", "deny|appr-9", "cancel|job-1"}) {
		t.Errorf("custom_ids = %v, want ACTION|VALUE", ids)
	}
}

// TestSlowHandlerGetsADeferredResponseThenItsAnswer: a handler slower than
// the acknowledgement gets a deferred response in time, and its own answer
// follows as an ephemeral follow-up (the ack never guesses the outcome).
func TestSlowHandlerGetsADeferredResponseThenItsAnswer(t *testing.T) {
	h := bottest.NewRecorder()
	h.Block = true
	r := newRig(t, h, func(o *discord.Options) { o.AckTimeout = 200 * time.Millisecond })

	status, body := r.send(t, discordtest.SlashCommand{Who: alice, Text: "create"}.JSON())

	resp := decodeResponse(t, body)
	if status != http.StatusOK || resp.Type != 5 || resp.Data == nil || resp.Data.Flags != 64 {
		t.Errorf("answer %d %s, want an ephemeral deferred response (type 5)", status, body)
	}
	select {
	case <-h.Cancelled:
	case <-bottest.WaitCtx(t).Done():
		t.Error("the handler's context was not cancelled when the acknowledgement was sent")
	}
	ups, err := r.fake.WaitCalls(bottest.WaitCtx(t), discordtest.RouteFollowup, 1)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Content string `json:"content"`
		Flags   int    `json:"flags"`
	}
	if err := ups[0].Decode(&m); err != nil || !strings.Contains(m.Content, "Nothing was started: too late.") || m.Flags != 64 {
		t.Errorf("follow-up %s, want the handler's own answer, ephemeral", ups[0].Payload)
	}
}

func TestOtherCommandNameIsNotRun(t *testing.T) {
	h := bottest.NewRecorder()
	r := newRig(t, h, nil)

	_, body := r.send(t, discordtest.SlashCommand{Who: alice, Name: "restore", Text: "everything"}.JSON())

	wantUnhandled(t, h, body, "/backup")
}

// wantUnhandled checks that body, the answer to an interaction, is
// ephemeral and says want, and that the handler was handed nothing.
func wantUnhandled(t *testing.T, h *bottest.Recorder, body []byte, want string) {
	t.Helper()
	resp := decodeResponse(t, body)
	if resp.Data == nil || resp.Data.Flags != 64 || !strings.Contains(resp.Data.Content, want) {
		t.Errorf("answer = %s, want an ephemeral answer saying %q", body, want)
	}
	if cmds, clicks := h.Seen(); len(cmds) != 0 || len(clicks) != 0 {
		t.Errorf("handler got commands %v and clicks %v, want none", cmds, clicks)
	}
}

func TestButtonClickBecomesAClick(t *testing.T) {
	cases := []struct {
		name        string
		who         discordtest.Who
		customID    string
		wantChannel string
		wantThread  string
		wantAction  string
		wantValue   string
	}{
		{"in a channel", alice, "confirm|7f3a9c", channel, "", "confirm", "7f3a9c"},
		{"in a job's thread", discordtest.Who{ChannelID: "1120000000000000001", ParentID: channel, UserID: "2000000000000000002",
			UserName: "bob", Roles: []string{"3000000000000000003"}}, "approve|a-1|with|bars", channel, "1120000000000000001", "approve", "a-1|with|bars"},
		{"escaped action id", alice, "restore%7Cplan|x", channel, "", "restore|plan", "x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := bottest.NewRecorder()
			r := newRig(t, h, nil)
			click := discordtest.ButtonClick{Who: tc.who, MessageID: "1300000000000000500", CustomID: tc.customID}

			status, body := r.send(t, click.JSON())

			resp := decodeResponse(t, body)
			if status != http.StatusOK || resp.Type != 4 || resp.Data.Flags != 64 || resp.Data.Content != "Restore confirmed." {
				t.Errorf("answer %d %s, want the handler's reply, ephemeral", status, body)
			}
			_, clicks := h.Seen()
			if len(clicks) != 1 {
				t.Fatalf("handler got %d clicks, want 1", len(clicks))
			}
			c := clicks[0]
			if c.From.Platform != bot.Discord || c.From.UserID != tc.who.UserID || !slices.Equal(c.From.Groups, tc.who.Roles) {
				t.Errorf("From = %+v, want the clicking member %s with roles %v", c.From, tc.who.UserID, tc.who.Roles)
			}
			if c.Message != (bot.MessageRef{Channel: tc.wantChannel, ID: "1300000000000000500", Thread: tc.wantThread}) {
				t.Errorf("Message = %+v, want channel %s message 1300000000000000500 thread %q", c.Message, tc.wantChannel, tc.wantThread)
			}
			if c.ActionID != tc.wantAction || c.Value != tc.wantValue {
				t.Errorf("action %q value %q, want %q %q", c.ActionID, c.Value, tc.wantAction, tc.wantValue)
			}
		})
	}
}

// TestButtonRoundTrip posts buttons through the Surface and clicks them:
// whatever the action id and value, the Click carries them back, even a
// pair too long for Discord's 100-character custom_id.
func TestButtonRoundTrip(t *testing.T) {
	h := bottest.NewRecorder()
	r := newRig(t, h, nil)
	buttons := []bot.Button{
		{ActionID: bot.ActionRetry, Label: "Retry", Value: "7f3a9c01"},
		{ActionID: "odd|~action%", Label: "Odd", Value: "v|1"},
		{ActionID: bot.ActionApprove, Label: "Approve", Value: strings.Repeat("long-approval-id-", 10)},
	}
	ref := bottest.Post(t, r.adapter, channel, "", bot.Message{Text: "Job failed.", Buttons: buttons})
	m, _ := r.fake.Message(ref.ID)
	var rows []actionRow
	if err := json.Unmarshal(m.Components, &rows); err != nil || len(rows) != 1 || len(rows[0].Components) != 3 {
		t.Fatalf("components = %s (%v), want one row of three buttons", m.Components, err)
	}
	for i, b := range rows[0].Components {
		if len(b.CustomID) > 100 {
			t.Errorf("custom_id %q is %d characters, Discord allows 100", b.CustomID, len(b.CustomID))
		}
		r.send(t, discordtest.ButtonClick{Who: alice, MessageID: ref.ID, CustomID: b.CustomID}.JSON())
		_, clicks := h.Seen()
		got := clicks[len(clicks)-1]
		if got.ActionID != buttons[i].ActionID || got.Value != buttons[i].Value {
			t.Errorf("button %d came back as %q/%q, want %q/%q", i, got.ActionID, got.Value, buttons[i].ActionID, buttons[i].Value)
		}
	}
}

func TestClickOnAForgottenButtonIsExplained(t *testing.T) {
	h := bottest.NewRecorder()
	r := newRig(t, h, nil)

	_, body := r.send(t, discordtest.ButtonClick{Who: alice, MessageID: "1300000000000000500", CustomID: "~0123456789abcdef"}.JSON())

	wantUnhandled(t, h, body, "restarted")
}

func TestNewAdapterExplainsBadSettings(t *testing.T) {
	cases := []struct {
		name string
		opts discord.Options
		want string
	}{
		{"no token", discord.Options{PublicKey: strings.Repeat("ab", 32)}, "DISCORD_BOT_TOKEN"},
		{"no key", discord.Options{BotToken: botToken}, "DISCORD_PUBLIC_KEY"},
		{"key not hex", discord.Options{BotToken: botToken, PublicKey: "not-a-key"}, "DISCORD_PUBLIC_KEY"},
		{"key too short", discord.Options{BotToken: botToken, PublicKey: "abcd"}, "64 hex digits"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := discord.NewAdapter(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %s", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), botToken) {
				t.Errorf("error leaks the token: %v", err)
			}
		})
	}
}

func TestLongAnswerIsCutAndFollowedByTheFullText(t *testing.T) {
	h := bottest.NewRecorder()
	long := strings.Repeat("audit line: alice created a backup of data\n", 80)
	h.Reply = bot.Reply{Message: bot.Message{Text: long}, Ephemeral: true}
	r := newRig(t, h, nil)

	_, body := r.send(t, discordtest.SlashCommand{Who: alice, Text: "audit"}.JSON())

	resp := decodeResponse(t, body)
	if n := len([]rune(resp.Data.Content)); n > 2000 || resp.Data.Flags != 64 {
		t.Errorf("response content %d characters, flags %d: want at most 2000, ephemeral", n, resp.Data.Flags)
	}
	ups, err := r.fake.WaitCalls(bottest.WaitCtx(t), discordtest.RouteFollowup, 1)
	if err != nil {
		t.Fatal(err)
	}
	var p struct{ Flags int }
	if err := ups[0].Decode(&p); err != nil || p.Flags != 64 {
		t.Errorf("follow-up flags = %d (%v), want 64 like the answer", p.Flags, err)
	}
	if len(ups[0].Files) != 1 || string(ups[0].Files[0].Data) != long {
		t.Errorf("follow-up files = %+v, want the full text", ups[0].Files)
	}
}

func TestEmptyClickReplyJustAcknowledges(t *testing.T) {
	h := bottest.NewRecorder()
	h.Click = bot.Reply{}
	r := newRig(t, h, nil)

	_, body := r.send(t, discordtest.ButtonClick{Who: alice, MessageID: "1300000000000000500", CustomID: "cancel|x"}.JSON())

	if resp := decodeResponse(t, body); resp.Type != 6 || resp.Data != nil {
		t.Errorf("answer = %s, want type 6 (acknowledged, message unchanged)", body)
	}
}
