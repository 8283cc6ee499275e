package jobs

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/backupbot/backupbot/commands"
)

// TestEnqueueScriptTaskReadByAsynq: the task the enqueue script writes is
// the one asynq's own client would: its inspector reads back the type,
// queue, id, retry count, timeout and payload.
func TestEnqueueScriptTaskReadByAsynq(t *testing.T) {
	rdb := testRedis(t)
	c := NewClient(nil, rdb, ClientOptions{Logger: quietLogger()})
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	meta, err := c.Enqueue(ctx, &commands.Create{Type: "full", Target: "data"}, Meta{Requester: alice, Channel: "C1"})
	if err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	info, err := insp.GetTaskInfo(QueueDefault, meta.JobID)
	if err != nil {
		t.Fatalf("asynq does not see job %s: %v", meta.JobID, err)
	}
	if info.Type != "backup:create" || info.Queue != QueueDefault || info.ID != meta.JobID || info.State != asynq.TaskStatePending ||
		info.MaxRetry != 3 || info.Timeout != 12*time.Hour || !info.Deadline.IsZero() {
		t.Errorf("task = %+v, want backup:create on %s, id %s, pending, 3 retries, 12h timeout, no deadline", info, QueueDefault, meta.JobID)
	}
	cmd, got, err := decodePayload(info.Payload)
	if err != nil || got.JobID != meta.JobID || commands.Render(cmd) != got.Text {
		t.Errorf("payload decodes to %v %+v %v", cmd, got, err)
	}
	qs, err := insp.Queues()
	if err != nil || !strings.Contains(strings.Join(qs, ","), QueueDefault) {
		t.Errorf("asynq queues %v (%v), want %s listed", qs, err, QueueDefault)
	}
	// The record, its queued event and every key the enqueue wrote expire.
	st, err := c.Status(ctx, meta.JobID)
	if err != nil || st.State != StateQueued || st.Action != "create" {
		t.Errorf("status = %+v, %v; want queued create", st, err)
	}
	for _, key := range []string{jobKey(meta.JobID)} {
		if ttl := rdb.TTL(ctx, key).Val(); ttl <= 0 {
			t.Errorf("%s has no TTL (%v): it would leak", key, ttl)
		}
	}
	keys := rdb.Keys(ctx, requestKeyPrefix+"*").Val()
	if len(keys) != 1 {
		t.Fatalf("request keys %v, want one", keys)
	}
	if ttl := rdb.TTL(ctx, keys[0]).Val(); ttl <= 0 || ttl > RequestKeyTTL {
		t.Errorf("request key TTL %v, want up to %v", ttl, RequestKeyTTL)
	}
	msgs := rdb.XRange(ctx, eventsStream, "-", "+").Val()
	if len(msgs) != 1 {
		t.Fatalf("%d events, want the queued one", len(msgs))
	}
	var ev Event
	if err := json.Unmarshal([]byte(msgs[0].Values["event"].(string)), &ev); err != nil || ev.Kind != EventQueued || ev.Meta.JobID != meta.JobID {
		t.Errorf("event %v (%v), want queued for %s", msgs[0].Values, err, meta.JobID)
	}
}

// TestEnqueueOnceAnswersARepeatWithTheFirstJob: the same request key
// queues one job; a settled (abandoned) request key queues none.
func TestEnqueueOnceAnswersARepeatWithTheFirstJob(t *testing.T) {
	rdb := testRedis(t)
	c := NewClient(nil, rdb, ClientOptions{Logger: quietLogger()})
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	cmd := &commands.Create{Type: "full", Target: "data"}
	first, replayed, err := c.EnqueueOnce(ctx, cmd, Meta{Requester: alice}, "slack:trigger:1")
	if err != nil || replayed {
		t.Fatalf("first: %v replayed=%v", err, replayed)
	}
	for range 2 {
		again, replayed, err := c.EnqueueOnce(ctx, cmd, Meta{Requester: alice}, "slack:trigger:1")
		if err != nil || !replayed || again.JobID != first.JobID || !again.EnqueuedAt.Equal(first.EnqueuedAt) {
			t.Errorf("repeat: %+v replayed=%v %v; want job %s again", again, replayed, err, first.JobID)
		}
	}
	if n := rdb.LLen(ctx, asynqPendingKey(QueueDefault)).Val(); n != 1 {
		t.Errorf("%d tasks pending, want 1", n)
	}
	// A request given up on (settled to the tombstone) never queues.
	if err := settleScript.Run(ctx, rdb, []string{requestKey("slack:trigger:2")}, 60).Err(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.EnqueueOnce(ctx, cmd, Meta{Requester: alice}, "slack:trigger:2"); err == nil || !strings.Contains(err.Error(), ErrNotQueued.Error()) {
		t.Errorf("enqueue of an abandoned request: %v, want ErrNotQueued", err)
	}
	if n := rdb.LLen(ctx, asynqPendingKey(QueueDefault)).Val(); n != 1 {
		t.Errorf("%d tasks pending after the abandoned request, want still 1", n)
	}
}
