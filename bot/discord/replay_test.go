package discord_test

import (
	"context"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot/bottest"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/discord/discordtest"
	"github.com/backupbot/backupbot/jobs"
)

// TestReplayedInteractionRunsOnce sends the same correctly signed
// interaction three times through the real HTTP handler, router, queue and
// worker: all three answers name one job, and it runs once.
func TestReplayedInteractionRunsOnce(t *testing.T) {
	rdb := testRedis(t)
	data := t.TempDir()
	bottest.WriteData(t, data, 2, 1<<10)
	stack := bottest.New(t, rdb, bottest.Options{Platform: "discord", Data: data})
	router, jc := stack.Router, stack.Jobs
	r := newRig(t, router, nil)
	router.Register(bot.Discord, r.adapter)

	queued := regexp.MustCompile("Queued as job `([0-9a-f]{8})`")
	body := discordtest.SlashCommand{Who: alice, Text: "create --target data --storage local"}.JSON()
	signedAt := time.Now()
	var ids []string
	for i := range 3 {
		status, resp := bottest.Do(t, discordtest.SignedRequest(r.http.URL+"/discord/interactions", r.key, signedAt, body))
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
	wctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var st jobs.Status
	var err error
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
	if n := bottest.Started(t, rdb)[ids[0]]; n != 1 || st.Attempt != 1 {
		t.Errorf("job %s started %d times (attempt %d), want once", ids[0], n, st.Attempt)
	}
	keys, err := rdb.Keys(context.Background(), "backupbot:job:*").Result()
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
