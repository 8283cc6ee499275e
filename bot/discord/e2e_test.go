package discord_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/bottest"
	"github.com/backupbot/backupbot/bot/discord/discordtest"
	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/internal/testredis"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/storage"
)

func testRedis(t *testing.T) *redis.Client {
	t.Helper()
	return testredis.Flushed(t, testredis.DBDiscord)
}

// writeData fills dir with files of random bytes, enough for a backup that
// reports progress more than once.
func writeData(t *testing.T, dir string, files, size int) {
	t.Helper()
	buf := make([]byte, size)
	for i := range files {
		_, _ = rand.Read(buf)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file-%03d.bin", i)), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBackupCreateFromDiscordEndToEnd drives /backup create through the
// real router, queue and worker: Discord gets an ephemeral ack within 3 s,
// then the channel gets one parent message, a thread started from it holds
// one progress message edited in place several times, and the final
// summary, in that order.
func TestBackupCreateFromDiscordEndToEnd(t *testing.T) {
	rdb := testRedis(t)
	repo, data := t.TempDir(), t.TempDir()
	writeData(t, data, 24, 1<<20)
	cfg := &config.File{
		Storages: map[string]storage.Spec{"local": {Type: storage.KindLocal, Path: repo}},
		Targets:  map[string]config.Target{"data": {Paths: []string{data}}},
	}
	// Alice may create backups through her guild role, not her user id.
	const opsRole = "3000000000000000002"
	pol, err := policy.New(policy.Config{Bindings: map[string][]string{"operator": {"discord-role:" + opsRole}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)

	jc := jobs.NewClient(nil, rdb, jobs.ClientOptions{Logger: bottest.Discard()})
	t.Cleanup(func() { jc.Close() })
	worker := jobs.NewWorker(nil, rdb, jobs.Deps{
		Config:   func() *config.File { return cfg },
		Password: func(storage.Spec) (string, error) { return "test repository password", nil },
		Logger:   bottest.Discard(),
	}, jobs.WorkerOptions{Concurrency: 1, ProgressInterval: 40 * time.Millisecond})
	workerDone := make(chan error, 1)
	go func() { workerDone <- worker.Run(ctx) }()

	router := bot.NewRouter(bot.RouterOptions{
		Parser:       commands.Parser{Targets: []string{"data"}, Storages: []string{"local"}},
		Jobs:         jc,
		Redis:        rdb,
		Policy:       policy.NewHolder(pol),
		EditInterval: 100 * time.Millisecond,
		Logger:       bottest.Discard(),
	})
	r := newRig(t, router, nil)
	router.Register(bot.Discord, r.adapter)
	routerDone := make(chan error, 1)
	go func() { routerDone <- router.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-workerDone; err != nil {
			t.Errorf("worker: %v", err)
		}
		if err := <-routerDone; err != nil {
			t.Errorf("router: %v", err)
		}
	})
	time.Sleep(100 * time.Millisecond) // let the router's event subscription start

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
	wait, cancel := context.WithTimeout(ctx, 90*time.Second)
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
