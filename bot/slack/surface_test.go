package slack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/bottest"
	"github.com/backupbot/backupbot/bot/slack"
)

// block is the part of a Block Kit block the tests look at.
type block struct {
	Type   string `json:"type"`
	Text   *struct{ Type, Text string }
	Fields []struct{ Type, Text string }
	Elems  []struct {
		Type     string `json:"type"`
		ActionID string `json:"action_id"`
		Value    string `json:"value"`
		Style    string `json:"style"`
		Text     struct{ Text string }
	} `json:"elements"`
}

func decodeBlocks(t *testing.T, raw string) []block {
	t.Helper()
	return bottest.DecodeJSON[[]block](t, "blocks", []byte(raw))
}

func TestPostRendersBlockKitInThread(t *testing.T) {
	r := newRig(t, bottest.NewRecorder(), nil)
	msg := bot.Message{
		Text:   "*Restore* of `data` needs confirmation <!channel> & co",
		Fields: []bot.Field{{Label: "Snapshot", Value: "7f3a"}, {Label: "Files", Value: "1,204"}},
		Buttons: []bot.Button{
			{ActionID: "restore.confirm", Label: "Confirm", Value: "job-1", Style: "primary"},
			{ActionID: "restore.cancel", Label: "Cancel", Value: "job-1", Style: "danger"},
		},
	}

	ref := bottest.Post(t, r.adapter, channel, "1700000000.000001", msg)

	calls := r.fake.Answered("chat.postMessage")
	if len(calls) != 1 {
		t.Fatalf("%d chat.postMessage calls, want 1", len(calls))
	}
	f := calls[0].Form
	if f.Get("channel") != channel || f.Get("thread_ts") != "1700000000.000001" {
		t.Errorf("posted to channel %q thread %q, want %s in thread 1700000000.000001", f.Get("channel"), f.Get("thread_ts"), channel)
	}
	if ref.Channel != channel || ref.ID == "" || ref.Thread != "1700000000.000001" {
		t.Errorf("ref = %+v, want the posted message in its thread", ref)
	}
	bs := decodeBlocks(t, f.Get("blocks"))
	if len(bs) != 3 {
		t.Fatalf("%d blocks, want text section, fields section, actions", len(bs))
	}
	if bs[0].Type != "section" || bs[0].Text.Type != "mrkdwn" ||
		bs[0].Text.Text != "*Restore* of `data` needs confirmation &lt;!channel&gt; &amp; co" {
		t.Errorf("text block = %+v, want escaped mrkdwn (no @channel ping)", bs[0])
	}
	if len(bs[1].Fields) != 2 || bs[1].Fields[0].Text != "*Snapshot*\n7f3a" {
		t.Errorf("fields block = %+v, want label/value fields", bs[1])
	}
	if bs[2].Type != "actions" || len(bs[2].Elems) != 2 {
		t.Fatalf("actions block = %+v, want two buttons", bs[2])
	}
	b := bs[2].Elems[1]
	if b.Type != "button" || b.ActionID != "restore.cancel" || b.Value != "job-1" || b.Style != "danger" || b.Text.Text != "Cancel" {
		t.Errorf("button = %+v, want restore.cancel/job-1/danger labelled Cancel", b)
	}
}

func TestEphemeralGoesToOneUser(t *testing.T) {
	r := newRig(t, bottest.NewRecorder(), nil)
	if err := r.adapter.Ephemeral(context.Background(), channel, "", "U0ALICE", bot.Message{Text: "denied: needs backup-admins"}); err != nil {
		t.Fatal(err)
	}
	calls := r.fake.Answered("chat.postEphemeral")
	if len(calls) != 1 || calls[0].Form.Get("user") != "U0ALICE" || calls[0].Form.Get("channel") != channel {
		t.Fatalf("postEphemeral calls = %+v, want one to U0ALICE in %s", calls, channel)
	}
}

func TestAttachUsesTheUploadV2Path(t *testing.T) {
	r := newRig(t, bottest.NewRecorder(), nil)
	report := []byte("snapshot  files  size\n7f3a      1204   84 MB\n")

	if err := r.adapter.Attach(context.Background(), channel, "1700000000.000009", "verify-report.txt", report, "Verification report"); err != nil {
		t.Fatal(err)
	}

	var methods []string
	for _, c := range r.fake.Answered() {
		methods = append(methods, c.Method)
	}
	if got := strings.Join(methods, ","); got != "files.getUploadURLExternal,upload,files.completeUploadExternal" {
		t.Fatalf("calls = %s, want the three steps of the upload v2 path", got)
	}
	get := r.fake.Answered("files.getUploadURLExternal")[0].Form
	if get.Get("filename") != "verify-report.txt" || get.Get("length") != fmt.Sprint(len(report)) {
		t.Errorf("getUploadURLExternal form = %v", get)
	}
	done := r.fake.Answered("files.completeUploadExternal")[0].Form
	if done.Get("channel_id") != channel || done.Get("thread_ts") != "1700000000.000009" || done.Get("initial_comment") != "Verification report" {
		t.Errorf("completeUploadExternal form = %v, want it shared into the thread with the comment", done)
	}
	var files []struct{ ID string }
	if err := json.Unmarshal([]byte(done.Get("files")), &files); err != nil || len(files) != 1 {
		t.Fatalf("completeUploadExternal files = %q", done.Get("files"))
	}
	if got, _ := r.fake.Upload(files[0].ID); string(got) != string(report) {
		t.Errorf("uploaded %q, want %q", got, report)
	}
}

func TestVeryLongTextIsCutAndAttached(t *testing.T) {
	r := newRig(t, bottest.NewRecorder(), nil)
	var long strings.Builder
	for i := 0; long.Len() < 120_000; i++ {
		fmt.Fprintf(&long, "snapshot-%05d  full  2025-01-15  84 MB\n", i)
	}

	ref := bottest.Post(t, r.adapter, channel, "", bot.Message{Text: long.String()})
	post := r.fake.Answered("chat.postMessage")[0].Form
	bs := decodeBlocks(t, post.Get("blocks"))
	if len(bs) > 50 {
		t.Errorf("%d blocks, Slack accepts at most 50", len(bs))
	}
	for _, b := range bs {
		if b.Text != nil && len(b.Text.Text) > 3000 {
			t.Errorf("a section holds %d characters, Slack accepts at most 3000", len(b.Text.Text))
		}
	}
	done := r.fake.Answered("files.completeUploadExternal")
	if len(done) != 1 || done[0].Form.Get("thread_ts") != ref.ID {
		t.Fatalf("full text not attached into the message's thread: %+v", done)
	}
	var files []struct{ ID string }
	_ = json.Unmarshal([]byte(done[0].Form.Get("files")), &files)
	if got, _ := r.fake.Upload(files[0].ID); string(got) != long.String() {
		t.Errorf("attached %d bytes, want the full %d", len(got), long.Len())
	}
}

func TestSurfaceErrorsSayWhatFailed(t *testing.T) {
	r := newRig(t, bottest.NewRecorder(), func(o *slack.Options) { o.BotToken = "xoxb-revoked" })
	_, err := r.adapter.Post(context.Background(), channel, "", bot.Message{Text: "hi"})
	if err == nil || !strings.Contains(err.Error(), "invalid_auth") || !strings.Contains(err.Error(), channel) {
		t.Errorf("err = %v, want one naming the channel and Slack's invalid_auth", err)
	}
	if err != nil && strings.Contains(err.Error(), "xoxb-") {
		t.Errorf("error leaks the token: %v", err)
	}
}

func progress(pct int) bot.Message {
	return bot.Message{Text: fmt.Sprintf("Backing up `data`: %d%%", pct)}
}

// TestProgressSurvivesRateLimits plays a job's progress reporter against a
// Slack that answers 429 in the middle of the updates and again for the
// final summary: progress resumes after Retry-After, the last state lands,
// and the summary is posted after it.
func TestProgressSurvivesRateLimits(t *testing.T) {
	r := newRig(t, bottest.NewRecorder(), nil)
	ctx := bottest.WaitCtx(t)
	parent := bottest.Post(t, r.adapter, channel, "", bot.Message{Text: "Backup of `data` started"})
	bar := bottest.Post(t, r.adapter, channel, parent.ID, progress(0))

	for pct := 10; pct <= 100; pct += 10 {
		if pct == 40 {
			r.fake.RateLimit("chat.update", 1, 1)
		}
		if err := r.adapter.Edit(ctx, bar, progress(pct)); err != nil {
			t.Fatalf("edit to %d%%: %v", pct, err)
		}
	}
	r.fake.RateLimit("chat.postMessage", 1, 1)
	if _, err := r.adapter.Post(ctx, channel, parent.ID, bot.Message{Text: "Backup done: 1,204 files, 84 MB"}); err != nil {
		t.Fatalf("final summary: %v", err)
	}

	limited := 0
	for _, c := range r.fake.Calls("chat.update", "chat.postMessage") {
		if c.Status == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited != 2 {
		t.Errorf("%d rate-limited calls, want the 2 the fake injected", limited)
	}
	if n := len(r.fake.Answered("chat.update")); n != 10 {
		t.Errorf("%d updates landed, want all 10 (sent one at a time, none superseded)", n)
	}
	m, _ := r.fake.Message(channel, bar.ID)
	if !strings.Contains(m.Text, "100%") {
		t.Errorf("progress message shows %q, want the last state (100%%)", m.Text)
	}
	calls := r.fake.Answered("chat.update", "chat.postMessage")
	last := calls[len(calls)-1]
	if last.Method != "chat.postMessage" || !strings.Contains(last.Form.Get("text"), "Backup done") || last.Form.Get("thread_ts") != parent.ID {
		t.Errorf("last call = %s %v, want the summary posted in the job's thread after the progress", last.Method, last.Form)
	}
}

// TestEditsCoalesceWhileThrottled queues edits faster than Slack may take
// them: only the newest is sent, nothing in between, and the newest is
// never lost even when its caller stopped waiting.
func TestEditsCoalesceWhileThrottled(t *testing.T) {
	r := newRig(t, bottest.NewRecorder(), func(o *slack.Options) { o.EditInterval = time.Second })
	ctx := bottest.WaitCtx(t)
	bar := bottest.Post(t, r.adapter, channel, "1700000000.000001", progress(0))

	r.fake.RateLimit("chat.update", 1, 1)
	gone, cancel := context.WithCancel(ctx)
	cancel()
	for pct := 10; pct <= 50; pct += 10 {
		// Callers that stopped waiting: each edit is queued, Edit returns at once.
		_ = r.adapter.Edit(gone, bar, progress(pct))
	}
	if err := r.adapter.Close(ctx); err != nil {
		t.Fatal(err)
	}

	landed := r.fake.Answered("chat.update")
	if len(landed) > 2 {
		t.Errorf("%d updates sent for 5 queued edits inside one throttle window, want at most 2", len(landed))
	}
	m, _ := r.fake.Message(channel, bar.ID)
	if !strings.Contains(m.Text, "50%") {
		t.Errorf("message shows %q, want the newest state (50%%)", m.Text)
	}
}

func TestEditReportsSlackErrors(t *testing.T) {
	r := newRig(t, bottest.NewRecorder(), nil)
	err := r.adapter.Edit(bottest.WaitCtx(t), bot.MessageRef{Channel: channel, ID: "1.999"}, progress(5))
	if err == nil || !strings.Contains(err.Error(), "message_not_found") {
		t.Errorf("err = %v, want Slack's message_not_found", err)
	}
}

// A Slack that answers 429, an error ("ok": false) or nothing at all shows
// in backupbot_chat_api_errors_total, by kind, in an exposition promtool
// accepts; a call that succeeds counts nothing.
func TestChatAPIErrorsCountSlacksRefusals(t *testing.T) {
	counted := bottest.NewAPIErrors(bot.Slack)
	errs := counted.Errs
	r := newRig(t, bottest.NewRecorder(), func(o *slack.Options) { o.APIErrors = errs })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	msg := bot.Message{Text: "Backup done"}

	bottest.Post(t, r.adapter, channel, "", msg)
	if got := counted.Counted(t); len(got) != 0 {
		t.Fatalf("after a post Slack accepted: %v, want no errors counted", got)
	}

	// Two 429s, then the post goes through.
	r.fake.RateLimit("chat.postMessage", 2, 1)
	if _, err := r.adapter.Post(ctx, channel, "", msg); err != nil {
		t.Fatalf("post after two 429s: %v", err)
	}
	// A revoked token: Slack answers 200 with "ok": false.
	bad, err := slack.NewAdapter(slack.Options{BotToken: "xoxb-revoked", SigningSecret: signingSecret, APIURL: r.fake.APIURL(),
		Logger: bottest.Discard(), APIErrors: errs})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Post(ctx, channel, "", msg); err == nil || !strings.Contains(err.Error(), "invalid_auth") {
		t.Fatalf("post with a revoked token: %v, want invalid_auth", err)
	}
	// Slack unreachable.
	gone, err := slack.NewAdapter(slack.Options{BotToken: botToken, SigningSecret: signingSecret, APIURL: "http://127.0.0.1:1/api/",
		Logger: bottest.Discard(), APIErrors: errs})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gone.Post(ctx, channel, "", msg); err == nil {
		t.Fatal("post to an unreachable Slack succeeded")
	}

	counted.Check(t, map[string]float64{bot.APIRateLimited: 2, bot.APIErrorAnswer: 1, bot.APIUnreachable: 1})
}
