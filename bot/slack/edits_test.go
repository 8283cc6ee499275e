package slack_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/bottest"
	"github.com/backupbot/backupbot/bot/slack"
)

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
	parent, err := r.adapter.Post(ctx, channel, "", bot.Message{Text: "Backup of `data` started"})
	if err != nil {
		t.Fatal(err)
	}
	bar, err := r.adapter.Post(ctx, channel, parent.ID, progress(0))
	if err != nil {
		t.Fatal(err)
	}

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
	bar, err := r.adapter.Post(ctx, channel, "1700000000.000001", progress(0))
	if err != nil {
		t.Fatal(err)
	}

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
