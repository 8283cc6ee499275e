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
