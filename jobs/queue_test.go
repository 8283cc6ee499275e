package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/storage/engine"
)

// The queue's runtime on Redis: the enqueue script and asynq, tasks lost
// with Redis, the event stream's consumers, and the size of what a job
// leaves in Redis.

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

// A worker starting on a Redis that lost a job's task (but kept its
// record, e.g. an old snapshot) ends the job and tells its thread it was
// lost and the exact command to run it again.
func TestWorkerReconcilesJobsWhoseTaskIsGone(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	h.cfg = testConfig(dir+"/repo", map[string]string{"data": dir})
	ctx := context.Background()
	meta, err := h.client.Enqueue(ctx, &commands.Create{Type: commands.TypeFull, Target: "data", Name: "nightly"}, Meta{Requester: alice, Channel: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	// The task vanishes; the record, a minute old, stays.
	insp := asynq.NewInspectorFromRedisClient(h.rdb)
	if err := insp.DeleteTask(QueueDefault, meta.JobID); err != nil {
		t.Fatal(err)
	}
	old := meta
	old.EnqueuedAt = time.Now().Add(-time.Minute)
	b, _ := json.Marshal(old)
	if err := h.rdb.HSet(ctx, jobKey(meta.JobID), fMeta, b).Err(); err != nil {
		t.Fatal(err)
	}
	h.startWorker(h.deps(), WorkerOptions{Concurrency: 1})
	ev := h.waitFinal(meta.JobID, 15*time.Second)
	want := "lost when Redis restarted without persistence; rerun with `/backup create --type full --target data --name nightly"
	if ev.Kind != EventFailed || !strings.Contains(ev.Error, want) {
		t.Fatalf("the lost job ended %s: %q, want failed with %q", ev.Kind, ev.Error, want)
	}
	st, err := h.client.Status(ctx, meta.JobID)
	if err != nil || st.State != StateFailed {
		t.Fatalf("status after reconcile: %+v, %v", st, err)
	}
}

// A relay that stops gets, when it comes back under the same group, the
// events it was handed but never acknowledged and those published while
// it was away; acknowledged ones are not delivered again.
func TestConsumeResumesAfterARestart(t *testing.T) {
	rdb := testRedis(t)
	ctx := context.Background()
	type got struct {
		ev  Event
		ack func()
	}
	consume := func() (chan got, context.CancelFunc, *sync.WaitGroup) {
		ch := make(chan got, 16)
		cctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() {
			_ = Consume(cctx, rdb, ConsumeOptions{Group: "relay:test"}, func(ev Event, ack func()) {
				if ev.Kind != EventProgress {
					ch <- got{ev, ack}
				}
			})
		})
		return ch, cancel, &wg
	}
	next := func(ch chan got) got {
		t.Helper()
		select {
		case g := <-ch:
			return g
		case <-time.After(5 * time.Second):
			t.Fatal("no event delivered within 5 s")
			return got{}
		}
	}
	ev := func(id string, k EventKind) Event { return Event{Kind: k, Meta: Meta{JobID: id}} }

	ch, stop, wg := consume()
	time.Sleep(200 * time.Millisecond) // the group exists
	if err := publish(ctx, rdb, ev("aaaa0001", EventStarted)); err != nil {
		t.Fatal(err)
	}
	_ = publish(ctx, rdb, ev("aaaa0001", EventProgress))
	if g := next(ch); g.ev.Meta.JobID != "aaaa0001" {
		t.Fatalf("got %+v", g.ev)
	} // not acknowledged: the process "dies" while posting
	stop()
	wg.Wait()

	if err := publish(ctx, rdb, ev("aaaa0001", EventSucceeded)); err != nil { // while nobody reads
		t.Fatal(err)
	}
	ch, stop, wg = consume()
	first, second := next(ch), next(ch)
	if first.ev.Kind != EventStarted || second.ev.Kind != EventSucceeded {
		t.Fatalf("after the restart: %s then %s, want the unacknowledged started, then the succeeded published meanwhile", first.ev.Kind, second.ev.Kind)
	}
	first.ack()
	second.ack()
	stop()
	wg.Wait()

	ch, stop, wg = consume()
	defer func() { stop(); wg.Wait() }()
	select {
	case g := <-ch:
		t.Fatalf("an acknowledged event came again: %+v", g.ev)
	case <-time.After(1500 * time.Millisecond):
	}
}

// TestListOf2500BackupsKeepsRedisSmall is issue 11's "bounded Redis
// memory": a list of 2,500 backups (1.3 MB of listing) keeps a summary
// and a preview in Redis (record and event), and the whole listing goes
// to a report file the adapter can attach.
func TestListOf2500BackupsKeepsRedisSmall(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	dir := t.TempDir()
	h.cfg = testConfig(dir+"/repo", map[string]string{"data": dir})
	rows := make([]listedSnapshot, 2500)
	for i := range rows {
		rows[i] = listedSnapshot{Storage: "local", SnapshotInfo: engine.SnapshotInfo{
			ID: fmt.Sprintf("%064x", i), Name: fmt.Sprintf("nightly-%04d", i), Type: "incremental", Target: "data",
			Paths: []string{"/srv/data/app", "/srv/data/uploads"}, Tags: map[string]string{"purpose": "nightly", "team": "platform"},
			Host: "backup-host-01", Time: time.Now().Add(-time.Duration(i) * time.Hour), Files: 120000, Size: 52 << 30, Added: 3 << 20,
			ToolVersion: "backupbot dev",
		}}
	}
	list := &commands.List{Size: true}
	full := listResult(list, []config.NamedStorage{{Name: "local"}}, rows, nil)
	unbounded, _ := json.Marshal(full)
	reports := t.TempDir()
	h.startWorker(h.deps(), WorkerOptions{Concurrency: 1, ReportDir: reports, Handlers: map[commands.Action]Handler{
		commands.ActionList: HandlerFunc(func(context.Context, *Job) (*Result, error) { return full, nil }),
	}})

	before, _ := h.rdb.MemoryUsage(ctx, eventsStream).Result()
	meta := h.enqueue(list)
	ev := h.waitFinal(meta.JobID, 30*time.Second)
	if ev.Kind != EventSucceeded || ev.Result == nil || ev.Result.Report == nil {
		t.Fatalf("list ended %s with %+v", ev.Kind, ev.Result)
	}
	record, err := h.rdb.MemoryUsage(ctx, jobKey(meta.JobID)).Result()
	if err != nil {
		t.Fatal(err)
	}
	after, _ := h.rdb.MemoryUsage(ctx, eventsStream).Result()
	stream := after - before
	t.Logf("list of 2,500 backups: result %d bytes unbounded; in Redis now: job record %d bytes, lifecycle events +%d bytes (%d bytes per job)",
		len(unbounded), record, stream, record+stream)
	if len(unbounded) < 1<<20 {
		t.Fatalf("the fixture is too small to show anything: %d bytes", len(unbounded))
	}
	if record > 64<<10 || stream > 96<<10 {
		t.Errorf("Redis keeps %d bytes of record and %d bytes of events for one list job, want each under 64-96 KiB", record, stream)
	}
	if ev.Result.Report.Path == "" || len(ev.Result.Report.Data) != 0 {
		t.Errorf("the final event carries %d bytes of report (path %q), want none and the file's path", len(ev.Result.Report.Data), ev.Result.Report.Path)
	}
	st, err := h.client.Status(ctx, meta.JobID)
	if err != nil || st.Result == nil || st.Result.Report == nil {
		t.Fatalf("status: %+v, %v", st, err)
	}
	rep := st.Result.Report
	if len(rep.Data) == 0 || len(rep.Data) > PreviewLimit+200 || rep.Path == "" || !strings.HasPrefix(rep.Path, reports) {
		t.Fatalf("record's report preview %d bytes, path %q; want at most %d bytes and a file in %s", len(rep.Data), rep.Path, PreviewLimit, reports)
	}
	whole, err := os.ReadFile(rep.Path)
	if err != nil {
		t.Fatal(err)
	}
	if len(whole) != len(full.Report.Data) || !strings.Contains(string(whole), "nightly-2499") {
		t.Errorf("the report file holds %d bytes, want the whole listing (%d bytes)", len(whole), len(full.Report.Data))
	}
	if !strings.Contains(string(ev.Result.Data), `"truncated":true`) {
		t.Errorf("the result's data was not cut: %d bytes", len(ev.Result.Data))
	}
}
