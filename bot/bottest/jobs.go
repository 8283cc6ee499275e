package bottest

import (
	"context"
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/jobs"
)

// Started counts, per job id, the "started" events in the job event
// stream: how often a worker began running each job.
func Started(t testing.TB, rdb redis.UniversalClient) map[string]int {
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

// WaitFinished waits, at most 15 s, until job id has a final state, and
// fails the test unless it succeeded.
func WaitFinished(t *testing.T, jc *jobs.Client, id string) jobs.Status {
	t.Helper()
	ctx := WaitCtx(t)
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

// queuedJob finds the job id in an answer that queued one.
var queuedJob = regexp.MustCompile("Queued as job `([0-9a-f]{8})`")

// QueuedJob is the id of the job an answer says it queued ("Queued as job
// `ID`"), or "" when it says none.
func QueuedJob(answer string) string {
	if m := queuedJob.FindStringSubmatch(answer); m != nil {
		return m[1]
	}
	return ""
}

// RunsOnce sends one request three times with send, which returns the text
// of its answer: all three answers must name one queued job, and that job
// must succeed, started once. It returns the job's id.
func RunsOnce(t *testing.T, rdb redis.UniversalClient, jc *jobs.Client, send func() string) string {
	t.Helper()
	var ids []string
	for i := range 3 {
		answer := send()
		id := QueuedJob(answer)
		if id == "" {
			t.Fatalf("send %d: answer %q, want 'Queued as job'", i+1, answer)
		}
		ids = append(ids, id)
	}
	if ids[0] != ids[1] || ids[1] != ids[2] {
		t.Fatalf("the same request was answered with jobs %v, want one job", ids)
	}
	st := WaitFinished(t, jc, ids[0])
	time.Sleep(500 * time.Millisecond) // room for a second run, should there be one
	if n := Started(t, rdb)[ids[0]]; n != 1 || st.Attempt != 1 {
		t.Errorf("job %s started %d times (attempt %d), want once", ids[0], n, st.Attempt)
	}
	return ids[0]
}

// JobKeys are the job records in rdb.
func JobKeys(t testing.TB, rdb redis.UniversalClient) []string {
	t.Helper()
	keys, err := rdb.Keys(context.Background(), "backupbot:job:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}
