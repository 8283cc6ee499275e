package discord_test

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/bottest"
	"github.com/backupbot/backupbot/bot/discord"
	"github.com/backupbot/backupbot/bot/discord/discordtest"
)

// postPayload is the part of a create-message payload the tests look at.
type postPayload struct {
	Content    string      `json:"content"`
	Embeds     []embed     `json:"embeds"`
	Components []actionRow `json:"components"`
	Flags      int         `json:"flags"`
	Mentions   *struct {
		Parse []string `json:"parse"`
	} `json:"allowed_mentions"`
}

func decodePost(t *testing.T, c discordtest.Call) postPayload {
	t.Helper()
	return bottest.DecodeJSON[postPayload](t, "payload of "+c.Path, c.Payload)
}

func TestPostRendersContentEmbedsAndButtons(t *testing.T) {
	r := newRig(t, bottest.NewRecorder(), nil)
	msg := bot.Message{
		Text:    "*Restore* of `data` needs confirmation @everyone",
		Fields:  []bot.Field{{Label: "Snapshot", Value: "7f3a"}, {Label: "Files", Value: "1,204"}},
		Buttons: []bot.Button{{ActionID: "confirm", Label: "Confirm", Value: "job-1", Style: "primary"}},
	}

	ref := bottest.Post(t, r.adapter, channel, "", msg)

	calls := r.fake.Answered(discordtest.RouteCreateMessage)
	if len(calls) != 1 || calls[0].Channel != channel {
		t.Fatalf("calls = %+v, want one POST /channels/%s/messages", calls, channel)
	}
	if ref.Channel != channel || ref.ID != calls[0].ID || ref.Thread != "" {
		t.Errorf("ref = %+v, want the new message %s in %s", ref, calls[0].ID, channel)
	}
	p := decodePost(t, calls[0])
	if p.Content != "**Restore** of `data` needs confirmation @everyone" {
		t.Errorf("content = %q", p.Content)
	}
	if p.Mentions == nil || len(p.Mentions.Parse) != 0 {
		t.Errorf("allowed_mentions = %+v, want parse: [] so @everyone does not ping", p.Mentions)
	}
	if len(p.Embeds) != 1 || len(p.Embeds[0].Fields) != 2 || p.Embeds[0].Fields[1].Name != "Files" || p.Embeds[0].Fields[1].Value != "1,204" {
		t.Errorf("embeds = %+v, want the fields as embed fields", p.Embeds)
	}
	if len(p.Components) != 1 || len(p.Components[0].Components) != 1 || p.Components[0].Components[0].CustomID != "confirm|job-1" ||
		p.Components[0].Components[0].Style != 1 || p.Components[0].Components[0].Label != "Confirm" {
		t.Errorf("components = %+v, want one primary Confirm button", p.Components)
	}
}

// TestThreadIsCreatedOnceThenPostedInto plays a job's relay: a parent
// message, then several posts (some at the same time) and edits in its
// thread. The thread is created once, from the parent; everything else
// goes to the thread channel.
func TestThreadIsCreatedOnceThenPostedInto(t *testing.T) {
	r := newRig(t, bottest.NewRecorder(), nil)
	ctx := bottest.WaitCtx(t)
	parent := bottest.Post(t, r.adapter, channel, "", bot.Message{Text: "🗄 *Backup* of `data` by alice\nmore"})

	var wg sync.WaitGroup
	refs := make([]bot.MessageRef, 4)
	for i := range refs {
		wg.Go(func() {
			ref, err := r.adapter.Post(ctx, channel, parent.ID, bot.Message{Text: fmt.Sprintf("post %d", i)})
			if err != nil {
				t.Errorf("post %d: %v", i, err)
			}
			refs[i] = ref
		})
	}
	wg.Wait()
	if err := r.adapter.Edit(ctx, refs[0], bot.Message{Text: "post 0, edited"}); err != nil {
		t.Fatal(err)
	}
	if err := r.adapter.Attach(ctx, channel, parent.ID, "report.txt", []byte("all good\n"), "full report"); err != nil {
		t.Fatal(err)
	}

	starts := r.fake.Calls(discordtest.RouteStartThread)
	if len(starts) != 1 {
		t.Fatalf("%d thread creations, want 1", len(starts))
	}
	if starts[0].Channel != channel || starts[0].Message != parent.ID {
		t.Errorf("thread started from %s/%s, want the parent %s/%s", starts[0].Channel, starts[0].Message, channel, parent.ID)
	}
	threads := r.fake.Threads()
	if len(threads) != 1 || threads[0].Name != "🗄 Backup of data by alice" {
		t.Fatalf("threads = %+v, want one named after the parent's first line", threads)
	}
	thread := threads[0].ID
	posts := r.fake.Answered(discordtest.RouteCreateMessage)
	if len(posts) != 6 {
		t.Fatalf("%d messages posted, want parent + 4 + attachment", len(posts))
	}
	for _, p := range posts[1:] {
		if p.Channel != thread {
			t.Errorf("message %s went to channel %s, want the thread %s", p.ID, p.Channel, thread)
		}
	}
	for i, ref := range refs {
		if ref.Channel != channel || ref.Thread != parent.ID {
			t.Errorf("ref %d = %+v, want channel %s thread %s", i, ref, channel, parent.ID)
		}
	}
	edits := r.fake.Answered(discordtest.RouteEditMessage)
	if len(edits) != 1 || edits[0].Channel != thread || edits[0].Message != refs[0].ID {
		t.Errorf("edits = %+v, want one PATCH of %s in the thread channel", edits, refs[0].ID)
	}
	att := posts[5]
	if len(att.Files) != 1 || att.Files[0].Field != "files[0]" || att.Files[0].Name != "report.txt" || string(att.Files[0].Data) != "all good\n" {
		t.Errorf("attachment files = %+v, want report.txt as files[0]", att.Files)
	}
	if p := decodePost(t, att); p.Content != "full report" {
		t.Errorf("attachment comment = %q", p.Content)
	}
}

// TestThreadFromBeforeARestartIsReused: a new adapter (the map lost)
// posting into a thread that already exists uses it instead of failing.
func TestThreadFromBeforeARestartIsReused(t *testing.T) {
	r := newRig(t, bottest.NewRecorder(), nil)
	ctx := bottest.WaitCtx(t)
	parent := bottest.Post(t, r.adapter, channel, "", bot.Message{Text: "Backup of data"})
	if _, err := r.adapter.Post(ctx, channel, parent.ID, bot.Message{Text: "progress"}); err != nil {
		t.Fatal(err)
	}
	restarted, err := discord.NewAdapter(discord.Options{BotToken: botToken, PublicKey: strings.Repeat("ab", 32), APIURL: r.fake.APIURL(), Logger: bottest.Discard()})
	if err != nil {
		t.Fatal(err)
	}

	if _, err := restarted.Post(ctx, channel, parent.ID, bot.Message{Text: "summary"}); err != nil {
		t.Fatalf("post after restart: %v", err)
	}

	thread := r.fake.Threads()[0].ID
	posts := r.fake.Answered(discordtest.RouteCreateMessage)
	if last := posts[len(posts)-1]; last.Channel != thread {
		t.Errorf("summary went to %s, want the existing thread %s", last.Channel, thread)
	}
	if n := len(r.fake.Answered(discordtest.RouteStartThread)); n != 1 {
		t.Errorf("%d threads created, want 1", n)
	}
}

func TestNoThreadsInADirectMessage(t *testing.T) {
	r := newRig(t, bottest.NewRecorder(), nil)
	ctx := bottest.WaitCtx(t)
	parent := bottest.Post(t, r.adapter, dmChannel, "", bot.Message{Text: "Backup of data"})
	progress, err := r.adapter.Post(ctx, dmChannel, parent.ID, bot.Message{Text: "10%"})
	if err != nil {
		t.Fatalf("post into a DM 'thread': %v", err)
	}
	if err := r.adapter.Edit(ctx, progress, bot.Message{Text: "20%"}); err != nil {
		t.Fatalf("edit in a DM: %v", err)
	}
	for _, p := range r.fake.Answered(discordtest.RouteCreateMessage, discordtest.RouteEditMessage) {
		if p.Channel != dmChannel {
			t.Errorf("%s went to %s, want the DM channel itself", p.Route, p.Channel)
		}
	}
	if m, _ := r.fake.Message(progress.ID); m.Content != "20%" {
		t.Errorf("progress reads %q, want 20%%", m.Content)
	}
}

func TestVeryLongTextIsCutAndAttached(t *testing.T) {
	r := newRig(t, bottest.NewRecorder(), nil)
	var long strings.Builder
	long.WriteString("```\n")
	for i := 0; long.Len() < 10_000; i++ {
		fmt.Fprintf(&long, "snapshot-%05d  full  2025-01-15  84 MB\n", i)
	}
	long.WriteString("```")

	if _, err := r.adapter.Post(context.Background(), channel, "", bot.Message{Text: long.String()}); err != nil {
		t.Fatal(err)
	}

	post := r.fake.Answered(discordtest.RouteCreateMessage)[0]
	p := decodePost(t, post)
	if n := len([]rune(p.Content)); n > 2000 {
		t.Errorf("content is %d characters, Discord accepts 2000", n)
	}
	if strings.Count(p.Content, "```")%2 != 0 {
		t.Errorf("the cut leaves a code block open:\n%s", p.Content[len(p.Content)-200:])
	}
	if len(post.Files) != 1 || post.Files[0].Name != "message.txt" || string(post.Files[0].Data) != long.String() {
		t.Errorf("files = %d, want the full text attached as message.txt", len(post.Files))
	}
}

func TestEditsCoalesceWhileThrottled(t *testing.T) {
	r := newRig(t, bottest.NewRecorder(), func(o *discord.Options) { o.EditInterval = time.Second })
	ctx := bottest.WaitCtx(t)
	bar := bottest.Post(t, r.adapter, channel, "", bot.Message{Text: "0%"})

	gone, cancel := context.WithCancel(ctx)
	cancel()
	for pct := 10; pct <= 50; pct += 10 {
		// Callers that stopped waiting: each edit is queued, Edit returns at once.
		_ = r.adapter.Edit(gone, bar, bot.Message{Text: fmt.Sprintf("%d%%", pct)})
	}
	if err := r.adapter.Close(ctx); err != nil {
		t.Fatal(err)
	}

	landed := r.fake.Answered(discordtest.RouteEditMessage)
	if len(landed) > 2 {
		t.Errorf("%d edits sent for 5 queued inside one throttle window, want at most 2", len(landed))
	}
	if m, _ := r.fake.Message(bar.ID); m.Content != "50%" {
		t.Errorf("message reads %q, want the newest state (50%%)", m.Content)
	}
}

// TestRateLimitsAreWaitedOut answers 429 to posts, edits and thread
// creation, with the wait in the JSON body or only in Retry-After: every
// call lands after the wait, and the progress message ends on its last
// state with the summary after it.
func TestRateLimitsAreWaitedOut(t *testing.T) {
	for _, headerOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("header_only=%v", headerOnly), func(t *testing.T) {
			r := newRig(t, bottest.NewRecorder(), nil)
			ctx := bottest.WaitCtx(t)
			wait := 300 * time.Millisecond
			if headerOnly {
				wait = time.Second // Retry-After carries whole seconds
			}
			limit := discordtest.RateLimit{Times: 1, RetryAfter: wait, HeaderOnly: headerOnly}
			parent := bottest.Post(t, r.adapter, channel, "", bot.Message{Text: "Backup of data"})
			r.fake.RateLimit(discordtest.RouteStartThread, limit)
			bar, err := r.adapter.Post(ctx, channel, parent.ID, bot.Message{Text: "0%"})
			if err != nil {
				t.Fatalf("first post into the thread: %v", err)
			}
			for pct := 10; pct <= 100; pct += 10 {
				if pct == 40 {
					r.fake.RateLimit(discordtest.RouteEditMessage, limit)
				}
				if err := r.adapter.Edit(ctx, bar, bot.Message{Text: fmt.Sprintf("%d%%", pct)}); err != nil {
					t.Fatalf("edit to %d%%: %v", pct, err)
				}
			}
			r.fake.RateLimit(discordtest.RouteCreateMessage, limit)
			if _, err := r.adapter.Post(ctx, channel, parent.ID, bot.Message{Text: "Backup done"}); err != nil {
				t.Fatalf("summary: %v", err)
			}

			limited := 0
			for _, c := range r.fake.Calls() {
				if c.Status == http.StatusTooManyRequests {
					limited++
				}
			}
			if limited != 3 {
				t.Errorf("%d calls answered 429, want the 3 the fake injected", limited)
			}
			if n := len(r.fake.Answered(discordtest.RouteEditMessage)); n != 10 {
				t.Errorf("%d edits landed, want all 10", n)
			}
			if m, _ := r.fake.Message(bar.ID); m.Content != "100%" {
				t.Errorf("progress reads %q, want the last state", m.Content)
			}
			calls := r.fake.Answered(discordtest.RouteEditMessage, discordtest.RouteCreateMessage)
			if last := decodePost(t, calls[len(calls)-1]); last.Content != "Backup done" {
				t.Errorf("last call says %q, want the summary after the progress", last.Content)
			}
		})
	}
}

func TestEphemeralUsesTheInteractionWhenThereIsOne(t *testing.T) {
	r := newRig(t, bottest.NewRecorder(), nil)
	ctx := bottest.WaitCtx(t)

	// No interaction from bob in this channel: posted normally.
	if err := r.adapter.Ephemeral(ctx, channel, "", "2000000000000000002", bot.Message{Text: "for bob"}); err != nil {
		t.Fatal(err)
	}
	// After alice's command, a follow-up only she sees.
	r.send(t, discordtest.SlashCommand{Who: alice, ID: "1300000000000000001", Text: "status 7f3a"}.JSON())
	if err := r.adapter.Ephemeral(ctx, channel, "", alice.UserID, bot.Message{Text: "for alice"}); err != nil {
		t.Fatal(err)
	}

	posts := r.fake.Answered(discordtest.RouteCreateMessage)
	if len(posts) != 1 || decodePost(t, posts[0]).Content != "for bob" || posts[0].Channel != channel {
		t.Errorf("channel posts = %+v, want only bob's message", posts)
	}
	ups := r.fake.Answered(discordtest.RouteFollowup)
	if len(ups) != 1 {
		t.Fatalf("%d follow-ups, want 1", len(ups))
	}
	p := decodePost(t, ups[0])
	if ups[0].Path != "/api/v10/webhooks/"+appID+"/interaction-token-1300000000000000001" || p.Flags != 64 || p.Content != "for alice" {
		t.Errorf("follow-up %s %+v, want an ephemeral one on alice's interaction", ups[0].Path, p)
	}
}

func TestSurfaceErrorsSayWhatFailed(t *testing.T) {
	r := newRig(t, bottest.NewRecorder(), func(o *discord.Options) { o.BotToken = "revoked-token" })
	_, err := r.adapter.Post(context.Background(), channel, "", bot.Message{Text: "hi"})
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), channel) ||
		!strings.Contains(err.Error(), "DISCORD_BOT_TOKEN") {
		t.Errorf("err = %v, want one naming the channel, the 401 and DISCORD_BOT_TOKEN", err)
	}
	if err != nil && strings.Contains(err.Error(), "revoked-token") {
		t.Errorf("error leaks the token: %v", err)
	}
	err = r.adapter.Edit(bottest.WaitCtx(t), bot.MessageRef{Channel: channel, ID: "1999"}, bot.Message{Text: "x"})
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("edit err = %v, want Discord's answer", err)
	}
}

func TestEditOfAMissingMessageReportsIt(t *testing.T) {
	r := newRig(t, bottest.NewRecorder(), nil)
	err := r.adapter.Edit(bottest.WaitCtx(t), bot.MessageRef{Channel: channel, ID: "1999"}, bot.Message{Text: "5%"})
	if err == nil || !strings.Contains(err.Error(), "Unknown Message") {
		t.Errorf("err = %v, want Discord's Unknown Message", err)
	}
}

// TestThreadChannelNotKnownAfterARestart: a job started by a command typed
// inside a thread keeps that thread id; after a restart the adapter no
// longer knows it is a channel, finds out, and posts there.
func TestThreadChannelNotKnownAfterARestart(t *testing.T) {
	r := newRig(t, bottest.NewRecorder(), nil)
	const threadChannel = "1120000000000000777"

	ref := bottest.Post(t, r.adapter, channel, threadChannel, bot.Message{Text: "Backup done"})
	if err := r.adapter.Edit(bottest.WaitCtx(t), ref, bot.Message{Text: "Backup done (edited)"}); err != nil {
		t.Fatal(err)
	}
	posts := r.fake.Answered(discordtest.RouteCreateMessage, discordtest.RouteEditMessage)
	if len(posts) != 2 || posts[0].Channel != threadChannel || posts[1].Channel != threadChannel {
		t.Errorf("calls = %+v, want the post and its edit in the thread channel %s", posts, threadChannel)
	}
}

// A Discord that answers 429 or an HTTP error shows in
// backupbot_chat_api_errors_total, by kind; a call that succeeds counts
// nothing.
func TestChatAPIErrorsCountDiscordsRefusals(t *testing.T) {
	counted := bottest.NewAPIErrors(bot.Discord)
	errs := counted.Errs
	r := newRig(t, bottest.NewRecorder(), func(o *discord.Options) { o.APIErrors = errs })
	ctx := bottest.WaitCtx(t)
	msg := bot.Message{Text: "Backup done"}

	bottest.Post(t, r.adapter, channel, "", msg)
	if got := counted.Counted(t); len(got) != 0 {
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

	counted.Check(t, map[string]float64{bot.APIRateLimited: 2, bot.APIErrorAnswer: 1})
}
