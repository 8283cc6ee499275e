package jobs

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/storage/engine"
)

// `make run` with no REDIS_URL uses an embedded miniredis: the whole job
// path (enqueue, run, progress, result, status, cancel) must work there.
func TestJobsWorkOnEmbeddedMiniredis(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { rdb.Close() })
	h := newHarnessOn(t, rdb)
	h.startWorker(h.deps(), WorkerOptions{ProgressInterval: 50 * time.Millisecond, Handlers: map[commands.Action]Handler{
		commands.ActionList: HandlerFunc(func(_ context.Context, j *Job) (*Result, error) {
			for i := range int64(5) {
				j.Progress(engine.Progress{Phase: "list", Files: i, FilesTotal: 5})
				time.Sleep(30 * time.Millisecond)
			}
			return &Result{Summary: "listed"}, nil
		}),
		commands.ActionVerify: HandlerFunc(func(ctx context.Context, _ *Job) (*Result, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}),
	}})
	meta := h.enqueue(&commands.List{})
	if ev := h.waitFinal(meta.JobID, 10*time.Second); ev.Kind != EventSucceeded || ev.Result.Summary != "listed" {
		t.Fatalf("list on miniredis: %s %q", ev.Kind, ev.Error)
	}
	if kinds := h.events.kinds(meta.JobID); !slices.Equal(kinds, []EventKind{EventQueued, EventStarted, EventProgress, EventSucceeded}) {
		t.Errorf("events on miniredis: %v", kinds)
	}
	v := h.enqueue(&commands.Verify{All: true})
	if _, ok := h.events.wait(5*time.Second, func(e Event) bool { return e.Meta.JobID == v.JobID && e.Kind == EventStarted }); !ok {
		t.Fatal("verify did not start")
	}
	if err := h.client.Cancel(context.Background(), v.JobID); err != nil {
		t.Fatal(err)
	}
	if ev := h.waitFinal(v.JobID, 5*time.Second); ev.Kind != EventCanceled {
		t.Errorf("cancel on miniredis: %s", ev.Kind)
	}
}
