package discord_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/discord/discordtest"
	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/storage"
)

// runs counts, per job id, the "started" events in the event stream: how
// often a worker began running each job.
func runs(t *testing.T, rdb *redis.Client) map[string]int {
	t.Helper()
	msgs, err := rdb.XRange(context.Background(), "backupbot:events", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, m := range msgs {
		var ev jobs.Event
		if s, _ := m.Values["event"].(string); json.Unmarshal([]byte(s), &ev) == nil && ev.Kind == jobs.EventStarted {
			out[ev.Meta.JobID]++
		}
	}
	return out
}

// TestReplayedInteractionRunsOnce sends the same correctly signed
// interaction three times through the real HTTP handler, router, queue and
// worker: all three answers name one job, and it runs once.
func TestReplayedInteractionRunsOnce(t *testing.T) {
	rdb := testRedis(t)
	repo, data := t.TempDir(), t.TempDir()
	writeData(t, data, 2, 1<<10)
	cfg := &config.File{
		Storages: map[string]storage.Spec{"local": {Type: storage.KindLocal, Path: repo}},
		Targets:  map[string]config.Target{"data": {Paths: []string{data}}},
	}
	pol, err := policy.New(policy.Config{Bindings: map[string][]string{"operator": {"discord:*"}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	jc := jobs.NewClient(nil, rdb, jobs.ClientOptions{Logger: discard()})
	t.Cleanup(func() { jc.Close() })
	worker := jobs.NewWorker(nil, rdb, jobs.Deps{
		Config:   func() *config.File { return cfg },
		Password: func(storage.Spec) (string, error) { return "test repository password", nil },
		Logger:   discard(),
	}, jobs.WorkerOptions{Concurrency: 2})
	workerDone := make(chan error, 1)
	go func() { workerDone <- worker.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-workerDone; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	router := bot.NewRouter(bot.RouterOptions{
		Parser: commands.Parser{Targets: []string{"data"}, Storages: []string{"local"}},
		Jobs:   jc, Redis: rdb, Policy: policy.NewHolder(pol), Logger: discard(),
	})
	r := newRig(t, router, nil)
	router.Register(bot.Discord, r.adapter)

	queued := regexp.MustCompile("Queued as job `([0-9a-f]{8})`")
	body := discordtest.SlashCommand{Who: alice, Text: "create --target data --storage local"}.JSON()
	signedAt := time.Now()
	var ids []string
	for i := range 3 {
		status, resp := do(t, discordtest.SignedRequest(r.http.URL+"/discord/interactions", r.key, signedAt, body))
		ans := decodeResponse(t, resp)
		if status != http.StatusOK || ans.Data == nil {
			t.Fatalf("send %d: answer %d %s", i+1, status, resp)
		}
		m := queued.FindStringSubmatch(ans.Data.Content)
		if m == nil {
			t.Fatalf("send %d: answer %q, want 'Queued as job'", i+1, ans.Data.Content)
		}
		ids = append(ids, m[1])
	}
	if ids[0] != ids[1] || ids[1] != ids[2] {
		t.Fatalf("the same interaction was answered with jobs %v, want one job", ids)
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var st jobs.Status
	for {
		st, err = jc.Status(wctx, ids[0])
		if err == nil && st.State.Final() {
			break
		}
		select {
		case <-wctx.Done():
			t.Fatalf("job %s did not finish: %v %v", ids[0], st.State, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if st.State != jobs.StateSucceeded {
		t.Fatalf("job %s ended %s: %s", ids[0], st.State, st.LastError)
	}
	time.Sleep(500 * time.Millisecond) // room for a second run, should there be one
	if n := runs(t, rdb)[ids[0]]; n != 1 || st.Attempt != 1 {
		t.Errorf("job %s started %d times (attempt %d), want once", ids[0], n, st.Attempt)
	}
	keys, err := rdb.Keys(ctx, "backupbot:job:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		t.Errorf("%d job records %v for one interaction sent three times, want 1", len(keys), keys)
	}

	// A new interaction (a new id) with the same text is a new job.
	_, resp := r.send(t, discordtest.SlashCommand{Who: alice, Text: "create --target data --storage local"}.JSON())
	if m := queued.FindStringSubmatch(decodeResponse(t, resp).Data.Content); m == nil || m[1] == ids[0] {
		t.Errorf("a second interaction was answered %s, want a new job", resp)
	}
}
