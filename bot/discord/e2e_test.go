package discord_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/bottest"
	"github.com/backupbot/backupbot/bot/discord/discordtest"
	"github.com/backupbot/backupbot/internal/testredis"
)

// TestBackupCreateFromDiscordEndToEnd drives /backup create through the
// real router, queue and worker: Discord gets an ephemeral ack within 3 s,
// then the channel gets one parent message, a thread started from it holds
// one progress message edited in place several times, and the final
// summary, in that order.
func TestBackupCreateFromDiscordEndToEnd(t *testing.T) {
	rdb := testredis.Flushed(t, testredis.DBDiscord)
	data := t.TempDir()
	bottest.WriteData(t, data, 24, 1<<20)
	// Alice may create backups through her guild role, not her user id.
	const opsRole = "3000000000000000002"
	stack := bottest.New(t, rdb, bottest.Options{Data: data, Operators: []string{"discord-role:" + opsRole}, Concurrency: 1,
		ProgressInterval: 40 * time.Millisecond, EditInterval: 100 * time.Millisecond})
	r := newRig(t, stack.Router, nil)
	stack.Run(t, bot.Discord, r.adapter)

	// A member without the role is refused and nothing is queued.
	stranger := discordtest.Who{ChannelID: channel, UserID: "2000000000000000009", UserName: "mallory", Roles: []string{"3000000000000000009"}}
	_, body := r.send(t, discordtest.SlashCommand{Who: stranger, ID: "1300000000000000010", Text: "create --target data --storage local"}.JSON())
	if deny := decodeResponse(t, body); deny.Data == nil || deny.Data.Flags != 64 || !strings.Contains(deny.Data.Content, "Not allowed") {
		t.Fatalf("answer to a member without the role = %s, want an ephemeral refusal", body)
	}

	start := time.Now()
	status, body := r.send(t, discordtest.SlashCommand{Who: alice, Text: "create --type full --target data --storage local"}.JSON())
	if took := time.Since(start); took >= 3*time.Second {
		t.Errorf("ack after %v, Discord gives up after 3s", took)
	}
	if status != http.StatusOK {
		t.Fatalf("status = %d (%s)", status, body)
	}
	ack := decodeResponse(t, body)
	if ack.Type != 4 || ack.Data == nil || ack.Data.Flags != 64 || !strings.Contains(ack.Data.Content, "Queued as job") {
		t.Fatalf("ack = %s, want an ephemeral 'Queued as job'", body)
	}

	// Parent, progress message, summary: three posts.
	wait, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := r.fake.WaitCalls(wait, discordtest.RouteCreateMessage, 3); err != nil {
		t.Fatal(err)
	}
	// Let every queued edit land before counting.
	if err := r.adapter.Close(wait); err != nil {
		t.Fatal(err)
	}

	posts := r.fake.Answered(discordtest.RouteCreateMessage)
	if len(posts) != 3 {
		for _, p := range posts {
			t.Logf("post to %s: %s", p.Channel, p.Payload)
		}
		t.Fatalf("%d messages posted, want 3 (parent, progress, summary)", len(posts))
	}
	parent, progress, summary := posts[0], posts[1], posts[2]
	if parent.Channel != channel {
		t.Errorf("parent posted to %s, want the channel %s", parent.Channel, channel)
	}
	threads := r.fake.Threads()
	if len(threads) != 1 || threads[0].ParentMessage != parent.ID || threads[0].ParentChannel != channel {
		t.Fatalf("threads = %+v, want one started from the parent message %s", threads, parent.ID)
	}
	thread := threads[0].ID
	if n := len(r.fake.Calls(discordtest.RouteStartThread)); n != 1 {
		t.Errorf("%d thread creations, want 1", n)
	}
	if progress.Channel != thread || summary.Channel != thread {
		t.Errorf("progress went to %s and summary to %s, want both in the thread %s", progress.Channel, summary.Channel, thread)
	}

	var edits int
	summaryAt, lastEditAt := -1, -1
	for i, c := range r.fake.Answered(discordtest.RouteCreateMessage, discordtest.RouteEditMessage) {
		switch {
		case c.Route == discordtest.RouteEditMessage:
			if c.Message != progress.ID || c.Channel != thread {
				t.Errorf("edit of %s/%s, want only the progress message %s/%s", c.Channel, c.Message, thread, progress.ID)
			}
			edits++
			lastEditAt = i
		case c.ID == summary.ID:
			summaryAt = i
		}
	}
	if edits < 2 {
		t.Errorf("progress message edited %d times, want several", edits)
	}
	if summaryAt < lastEditAt {
		t.Errorf("summary posted before the last progress edit (call %d vs %d)", summaryAt, lastEditAt)
	}
	pm, _ := r.fake.Message(parent.ID)
	prog, _ := r.fake.Message(progress.ID)
	sm, _ := r.fake.Message(summary.ID)
	t.Logf("parent: %q; thread %q; progress (edited %d times, final): %q; summary: %q", pm.Content, threads[0].Name, edits, prog.Content, sm.Content)
}

// TestReplayedInteractionRunsOnce sends the same correctly signed
// interaction three times through the real HTTP handler, router, queue and
// worker: all three answers name one job, and it runs once.
func TestReplayedInteractionRunsOnce(t *testing.T) {
	rdb := testredis.Flushed(t, testredis.DBDiscord)
	data := t.TempDir()
	bottest.WriteData(t, data, 2, 1<<10)
	stack := bottest.New(t, rdb, bottest.Options{Platform: "discord", Data: data})
	router, jc := stack.Router, stack.Jobs
	r := newRig(t, router, nil)
	router.Register(bot.Discord, r.adapter)

	body := discordtest.SlashCommand{Who: alice, Text: "create --target data --storage local"}.JSON()
	signedAt := time.Now()
	id := bottest.RunsOnce(t, rdb, jc, func() string {
		status, resp := bottest.Do(t, discordtest.SignedRequest(r.http.URL+"/discord/interactions", r.key, signedAt, body))
		ans := decodeResponse(t, resp)
		if status != http.StatusOK || ans.Data == nil {
			t.Fatalf("answer %d %s", status, resp)
		}
		return ans.Data.Content
	})
	if keys := bottest.JobKeys(t, rdb); len(keys) != 1 {
		t.Errorf("%d job records %v for one interaction sent three times, want 1", len(keys), keys)
	}

	// A new interaction (a new id) with the same text is a new job.
	_, resp := r.send(t, discordtest.SlashCommand{Who: alice, Text: "create --target data --storage local"}.JSON())
	if again := bottest.QueuedJob(decodeResponse(t, resp).Data.Content); again == "" || again == id {
		t.Errorf("a second interaction was answered %s, want a new job", resp)
	}
}
