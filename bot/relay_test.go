package bot_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/policy"
)

// TestTwoBotProcessesRelayEachJobOnce: two routers serving the same
// platform on one Redis (two `backupbot bot` processes) post each job's
// messages once between them, not once each.
func TestTwoBotProcessesRelayEachJobOnce(t *testing.T) {
	rdb := redisClient(t)
	quiet := silent()
	dir := t.TempDir()
	cfg := localConfig(dir, writeData(t, dir, map[string]string{"a.txt": "hello\n"}))
	holder := policy.NewHolder(nil) // console users are admins
	client := newJobClient(t, rdb, quiet)
	bg := runServices(t, nil)
	ctx := bg.ctx

	surfaces := []*recordingSurface{{}, {}}
	routers := make([]*bot.Router, 2)
	for i := range routers {
		routers[i] = bot.NewRouter(bot.RouterOptions{
			Parser: cfg.Parser(), Jobs: client, Redis: rdb, Policy: holder, Logger: quiet,
			Surfaces: map[bot.Platform]bot.Surface{bot.Console: surfaces[i]},
		})
		bg.run(routers[i].Run)
	}
	d := workerDeps(cfg, nil)
	d.Logger = quiet
	bg.run(jobs.NewWorker(nil, rdb, d, jobs.WorkerOptions{Concurrency: 2}).Run)
	time.Sleep(200 * time.Millisecond)

	const n = 4
	for i := range n {
		reply := routers[i%2].HandleCommand(ctx, bot.Incoming{
			From: bot.Identity{Platform: bot.Console, UserID: "alice"}, Channel: "console",
			Text: fmt.Sprintf("/backup create --type full --target data --name b%d", i),
		})
		if jobIDOf(reply.Message.Text) == "" {
			t.Fatalf("command %d not queued: %s", i, reply.Message.Text)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var results int
		for _, s := range surfaces {
			for _, p := range s.all() {
				if len(p.text) > 3 && strings.HasPrefix(p.text, "✅") {
					results++
				}
			}
		}
		if results >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d results were posted", results, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // a duplicate would show up by now
	total := 0
	for i, s := range surfaces {
		posts := s.all()
		total += len(posts)
		t.Logf("bot process %d: %d posts, %d edits", i+1, len(posts), s.editCount())
	}
	// Each job: a parent line, a progress message and a result.
	if total != 3*n {
		t.Errorf("the two bot processes posted %d messages for %d jobs, want %d (each job once)", total, n, 3*n)
	}
}

// emit writes a job event where workers publish them.
func emit(t *testing.T, rdb *redis.Client, ev jobs.Event) {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: "backupbot:events", Values: []any{"event", b}}).Err(); err != nil {
		t.Fatal(err)
	}
}

// TestBusyChannelGetsPacedPostsAndBatchedResults: 60 jobs finish in one
// Slack channel within a moment. The relay never posts there faster than
// the pace (after a short burst), and it drops no result: each job's
// result is posted exactly once, most of them gathered in batch messages.
func TestBusyChannelGetsPacedPostsAndBatchedResults(t *testing.T) {
	rdb := redisClient(t)
	const interval = 100 * time.Millisecond
	w := &recordingSurface{}
	router := bot.NewRouter(bot.RouterOptions{
		Parser: commands.Parser{}, Jobs: jobs.NewClient(nil, rdb, jobs.ClientOptions{Logger: silent()}), Redis: rdb,
		Policy: policy.NewHolder(nil), PostInterval: interval, Logger: silent(),
		Surfaces: map[bot.Platform]bot.Surface{bot.Slack: w},
	})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- router.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	time.Sleep(200 * time.Millisecond) // the subscription starts

	const n = 60
	who := policy.Identity{Platform: "slack", UserID: "U0ALICE", UserName: "alice"}
	for i := range n {
		meta := jobs.Meta{JobID: fmt.Sprintf("0000%04x", i), Requester: who, Channel: "C0BUSY", Text: "list", EnqueuedAt: time.Now()}
		emit(t, rdb, jobs.Event{Kind: jobs.EventQueued, Meta: meta, Action: "list", At: time.Now()})
		emit(t, rdb, jobs.Event{Kind: jobs.EventSucceeded, Meta: meta, Action: "list", At: time.Now(),
			Result: &jobs.Result{Summary: fmt.Sprintf("listed for job %d", i)}})
	}

	id := regexp.MustCompile(`listed for job (\d+)`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		seen := map[string]int{}
		for _, p := range w.all() {
			for _, m := range id.FindAllStringSubmatch(p.text, -1) {
				seen[m[1]]++
			}
		}
		if len(seen) == n {
			for k, c := range seen {
				if c != 1 {
					t.Errorf("job %s's result posted %d times, want once", k, c)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d results posted within 30 s", len(seen), n)
		}
		time.Sleep(50 * time.Millisecond)
	}

	posts := w.all()
	batches := 0
	for _, p := range posts {
		if strings.HasPrefix(p.text, "📦") {
			batches++
		}
	}
	if batches == 0 || len(posts) > n {
		t.Errorf("%d posts, %d of them batches, for %d results: want results batched while the channel is busy", len(posts), batches, n)
	}
	// Pace: any k+1 consecutive posts span at least (k-burst) intervals.
	const burst = 3
	for i := range posts {
		for j := i + burst + 1; j < len(posts); j++ {
			want := time.Duration(j-i-burst)*interval - 20*time.Millisecond
			if got := posts[j].at.Sub(posts[i].at); got < want {
				t.Fatalf("posts %d..%d within %v, want at least %v (one per %v after a burst of %d)", i, j, got, want, interval, burst)
			}
		}
	}
	t.Logf("%d results in %d posts (%d batches)", n, len(posts), batches)
}
