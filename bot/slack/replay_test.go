package slack_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot/bottest"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/slack/slacktest"
	"github.com/backupbot/backupbot/jobs"
)

// TestReplayedSlashCommandRunsOnce sends the same correctly signed slash
// command three times (a replay within the signing window, or Slack
// retrying) through the real HTTP handler, router, queue and worker: all
// three acks name one job, and it runs once. Without a trigger id the
// signed body names the request.
func TestReplayedSlashCommandRunsOnce(t *testing.T) {
	rdb := testRedis(t)
	data := t.TempDir()
	bottest.WriteData(t, data, 2, 1<<10)
	stack := bottest.New(t, rdb, bottest.Options{Platform: "slack", Data: data})
	router, jc := stack.Router, stack.Jobs
	r := newRig(t, router, nil)
	router.Register(bot.Slack, r.adapter)

	queued := regexp.MustCompile("Queued as job `([0-9a-f]{8})`")
	withTrigger := slacktest.SlashCommand{ChannelID: channel, UserID: "U0ALICE", UserName: "alice", Text: "create --target data --storage local"}.Form()
	form, err := url.ParseQuery(string(slacktest.SlashCommand{ChannelID: channel, UserID: "U0ALICE", UserName: "alice", Text: "create --target data --storage local"}.Form()))
	if err != nil {
		t.Fatal(err)
	}
	form.Del("trigger_id")
	withoutTrigger := []byte(form.Encode())

	for name, body := range map[string][]byte{"trigger id": withTrigger, "signed body": withoutTrigger} {
		t.Run(name, func(t *testing.T) {
			signedAt := time.Now()
			var ids []string
			for i := range 3 {
				status, resp := bottest.Do(t, slacktest.SignedRequest(r.http.URL+"/slack/commands", signingSecret, signedAt, body))
				ans := decodeAnswer(t, resp)
				m := queued.FindStringSubmatch(ans.Text)
				if status != http.StatusOK || m == nil {
					t.Fatalf("send %d: answer %d %q, want 'Queued as job'", i+1, status, ans.Text)
				}
				ids = append(ids, m[1])
			}
			if ids[0] != ids[1] || ids[1] != ids[2] {
				t.Fatalf("the same request was answered with jobs %v, want one job", ids)
			}
			st := waitFinished(t, jc, ids[0])
			time.Sleep(500 * time.Millisecond) // room for a second run, should there be one
			if n := bottest.Started(t, rdb)[ids[0]]; n != 1 || st.Attempt != 1 {
				t.Errorf("job %s started %d times (attempt %d), want once", ids[0], n, st.Attempt)
			}
		})
	}
	keys, err := rdb.Keys(context.Background(), "backupbot:job:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Errorf("%d job records %v for two distinct requests sent three times each, want 2", len(keys), keys)
	}
}

// waitFinished waits until job id has a final state.
func waitFinished(t *testing.T, jc *jobs.Client, id string) jobs.Status {
	t.Helper()
	ctx := bottest.WaitCtx(t)
	for {
		st, err := jc.Status(ctx, id)
		if err == nil && st.State.Final() {
			if st.State != jobs.StateSucceeded {
				t.Fatalf("job %s ended %s: %s", id, st.State, st.LastError)
			}
			return st
		}
		select {
		case <-ctx.Done():
			t.Fatalf("job %s did not finish: %v %v", id, st.State, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
