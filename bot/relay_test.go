package bot_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/storage"
)

// recordingSurface counts what a bot process posted and edited.
type recordingSurface struct {
	mu    sync.Mutex
	n     int
	posts []string
	edits int
}

func (r *recordingSurface) Post(_ context.Context, _, _ string, m bot.Message) (bot.MessageRef, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	r.posts = append(r.posts, m.Text)
	return bot.MessageRef{ID: fmt.Sprintf("m%d", r.n)}, nil
}
func (r *recordingSurface) Ephemeral(context.Context, string, string, string, bot.Message) error {
	return nil
}
func (r *recordingSurface) Edit(context.Context, bot.MessageRef, bot.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.edits++
	return nil
}
func (r *recordingSurface) Attach(context.Context, string, string, string, []byte, string) error {
	return nil
}

func (r *recordingSurface) snapshot() ([]string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string{}, r.posts...), r.edits
}

// TestTwoBotProcessesRelayEachJobOnce: two routers serving the same
// platform on one Redis (two `backupbot bot` processes) post each job's
// messages once between them, not once each.
func TestTwoBotProcessesRelayEachJobOnce(t *testing.T) {
	rdb := redisClient(t)
	quiet := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "a.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := &config.File{
		Storages: map[string]storage.Spec{"local": {Type: "local", Path: filepath.Join(dir, "repo")}},
		Targets:  map[string]config.Target{"data": {Paths: []string{data}}},
	}
	holder := policy.NewHolder(nil) // console users are admins
	client := jobs.NewClient(nil, rdb, jobs.ClientOptions{Logger: quiet})
	defer client.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	surfaces := []*recordingSurface{{}, {}}
	routers := make([]*bot.Router, 2)
	for i := range routers {
		routers[i] = bot.NewRouter(bot.RouterOptions{
			Parser: cfg.Parser(), Jobs: client, Redis: rdb, Policy: holder, Logger: quiet,
			Surfaces: map[bot.Platform]bot.Surface{bot.Console: surfaces[i]},
		})
		r := routers[i]
		wg.Go(func() { _ = r.Run(ctx) })
	}
	w := jobs.NewWorker(nil, rdb, jobs.Deps{
		Config:   func() *config.File { return cfg },
		Password: func(storage.Spec) (string, error) { return "test repository password", nil },
		Logger:   quiet,
	}, jobs.WorkerOptions{Concurrency: 2})
	wg.Go(func() { _ = w.Run(ctx) })
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
			posts, _ := s.snapshot()
			for _, p := range posts {
				if len(p) > 3 && p[:3] == "✅" {
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
		posts, edits := s.snapshot()
		total += len(posts)
		t.Logf("bot process %d: %d posts, %d edits", i+1, len(posts), edits)
	}
	// Each job: a parent line, a progress message and a result.
	if total != 3*n {
		t.Errorf("the two bot processes posted %d messages for %d jobs, want %d (each job once)", total, n, 3*n)
	}
}
