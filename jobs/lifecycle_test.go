package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/storage/engine"
)

func TestJobRunsAndReportsProgressAndResult(t *testing.T) {
	h := newHarness(t)
	handler := HandlerFunc(func(ctx context.Context, j *Job) (*Result, error) {
		for i := int64(1); i <= 30; i++ {
			j.Progress(engine.Progress{Phase: "backup", Files: i, FilesTotal: 30, Bytes: i << 20, BytesTotal: 30 << 20, Path: fmt.Sprintf("/srv/f%d", i)})
			time.Sleep(50 * time.Millisecond)
		}
		return &Result{Summary: "backed up 30 files", Fields: []Field{{"Files", "30"}}}, nil
	})
	h.startWorker(h.deps(), WorkerOptions{Handlers: map[commands.Action]Handler{commands.ActionCreate: handler}, ProgressInterval: 300 * time.Millisecond})

	meta := h.enqueue(&commands.Create{Type: commands.TypeFull, Target: "data"})
	if len(meta.JobID) != 8 || strings.Trim(meta.JobID, "0123456789abcdef") != "" {
		t.Errorf("job id %q: want 8 hex digits", meta.JobID)
	}
	if meta.EnqueuedAt.IsZero() {
		t.Error("Enqueue did not set EnqueuedAt")
	}
	final := h.waitFinal(meta.JobID, 10*time.Second)
	if final.Kind != EventSucceeded || final.Result == nil || final.Result.Summary != "backed up 30 files" {
		t.Fatalf("final event %+v: want succeeded with the handler's result", final)
	}

	kinds := h.events.kinds(meta.JobID)
	if want := []EventKind{EventQueued, EventStarted, EventProgress, EventSucceeded}; !slices.Equal(kinds, want) {
		t.Errorf("event sequence %v, want %v", kinds, want)
	}
	var progress []Event
	for _, e := range h.events.of(meta.JobID) {
		if e.Kind == EventProgress {
			progress = append(progress, e)
		}
		if e.Meta.Requester.UserID != "alice" || e.Meta.Channel != "ops" || e.Action != "create" {
			t.Errorf("event %s lost its meta: %+v", e.Kind, e.Meta)
		}
	}
	// 1.5 s of work at one report per 300 ms: throttled to a handful, not 30.
	if n := len(progress); n < 2 || n > 10 {
		t.Errorf("%d progress events for 30 reports over 1.5 s at a 300 ms interval; want throttling to ~5", n)
	}
	last := progress[len(progress)-1].Progress
	if last.Rate <= 0 || last.ETA < 0 || last.BytesTotal != 30<<20 {
		t.Errorf("last progress %+v: want a positive rate and the totals", last)
	}

	st, err := h.client.Status(context.Background(), meta.JobID)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != StateSucceeded || st.Attempt != 1 || st.Result == nil || st.Meta.Requester.UserID != "alice" ||
		st.StartedAt.IsZero() || st.FinishedAt.IsZero() || st.Progress == nil {
		t.Errorf("status %+v: want succeeded, attempt 1, with result, requester, times and last progress", st)
	}
	running, err := h.client.Running(context.Background())
	if err != nil || len(running) != 0 {
		t.Errorf("Running() = %v, %v: want no jobs after the job ended", running, err)
	}
}

func TestStatusOfUnknownJob(t *testing.T) {
	h := newHarness(t)
	_, err := h.client.Status(context.Background(), "deadbeef")
	if !errors.Is(err, ErrJobNotFound) {
		t.Fatalf("Status of unknown job: %v, want ErrJobNotFound", err)
	}
}

func TestEnqueueRefusesActionsThatAreNotJobs(t *testing.T) {
	h := newHarness(t)
	for _, cmd := range []commands.Command{&commands.Help{}, &commands.Status{JobID: "x"}, &commands.Cancel{JobID: "x"}, &commands.Audit{}} {
		if _, err := h.client.Enqueue(context.Background(), cmd, Meta{Requester: alice}); err == nil {
			t.Errorf("Enqueue(%s) succeeded; want an error: it is answered at once", cmd.Action())
		}
	}
}

func TestRunningListsQueuedJobsAndCancelRemovesThem(t *testing.T) {
	h := newHarness(t) // no worker: jobs stay queued
	a := h.enqueue(&commands.Create{Target: "data"})
	b := h.enqueue(&commands.Verify{All: true})
	running, err := h.client.Running(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(running) != 2 || running[0].Meta.JobID != a.JobID || running[1].Meta.JobID != b.JobID || running[0].State != StateQueued {
		t.Fatalf("Running() = %+v: want both queued jobs, oldest first", running)
	}
	if err := h.client.Cancel(context.Background(), a.JobID); err != nil {
		t.Fatalf("Cancel queued job: %v", err)
	}
	ev := h.waitFinal(a.JobID, 5*time.Second)
	if ev.Kind != EventCanceled {
		t.Errorf("final event %s, want canceled", ev.Kind)
	}
	st, _ := h.client.Status(context.Background(), a.JobID)
	if st.State != StateCanceled {
		t.Errorf("state %s, want canceled", st.State)
	}
	if err := h.client.Cancel(context.Background(), a.JobID); !errors.Is(err, ErrJobFinished) {
		t.Errorf("second Cancel: %v, want ErrJobFinished", err)
	}
	running, _ = h.client.Running(context.Background())
	if len(running) != 1 || running[0].Meta.JobID != b.JobID {
		t.Errorf("Running() after cancel = %+v: want only %s", running, b.JobID)
	}

	// A worker started now never runs the cancelled job.
	var ran atomic.Int32
	h.startWorker(h.deps(), WorkerOptions{Handlers: map[commands.Action]Handler{
		commands.ActionCreate: HandlerFunc(func(context.Context, *Job) (*Result, error) { ran.Add(1); return &Result{}, nil }),
		commands.ActionVerify: HandlerFunc(func(context.Context, *Job) (*Result, error) { return &Result{Summary: "ok"}, nil }),
	}})
	h.waitFinal(b.JobID, 5*time.Second)
	if ran.Load() != 0 {
		t.Error("the cancelled create ran")
	}
}

func TestCancelStopsARunningJobWithoutRetry(t *testing.T) {
	h := newHarness(t)
	var attempts atomic.Int32
	started := make(chan struct{}, 1)
	handler := HandlerFunc(func(ctx context.Context, j *Job) (*Result, error) {
		attempts.Add(1)
		started <- struct{}{}
		<-ctx.Done() // the engine stops at its next safe point
		return nil, fmt.Errorf("backup interrupted: %w", ctx.Err())
	})
	h.startWorker(h.deps(), WorkerOptions{Handlers: map[commands.Action]Handler{commands.ActionCreate: handler}})
	meta := h.enqueue(&commands.Create{Target: "data"})
	<-started
	if err := h.client.Cancel(context.Background(), meta.JobID); err != nil {
		t.Fatal(err)
	}
	ev := h.waitFinal(meta.JobID, 5*time.Second)
	if ev.Kind != EventCanceled {
		t.Fatalf("final event %s (%s), want canceled", ev.Kind, ev.Error)
	}
	time.Sleep(500 * time.Millisecond) // a retry would start at once (RetryDelay 0)
	if n := attempts.Load(); n != 1 {
		t.Errorf("handler ran %d times; a cancelled job must not be retried", n)
	}
	if slices.Contains(h.events.kinds(meta.JobID), EventRetrying) {
		t.Error("a cancelled job announced a retry")
	}
}

type refusingPolicy struct{}

func (refusingPolicy) Recheck(jobID string, requester policy.Identity, channel string, cmd commands.Command) error {
	return &policy.RevokedError{JobID: jobID, Requester: requester, Command: string(cmd.Action()),
		Decision: policy.Decision{Rule: policy.RuleDefaultDeny, Reason: "`create` needs the role operator; you hold no role"}}
}

func TestWorkerRefusesJobWhoseRequesterLostTheRole(t *testing.T) {
	h := newHarness(t)
	var ran atomic.Bool
	deps := h.deps()
	deps.Policy = func() Rechecker { return refusingPolicy{} }
	h.startWorker(deps, WorkerOptions{Handlers: map[commands.Action]Handler{
		commands.ActionCreate: HandlerFunc(func(context.Context, *Job) (*Result, error) { ran.Store(true); return &Result{}, nil }),
	}})
	meta := h.enqueue(&commands.Create{Target: "data"})
	ev := h.waitFinal(meta.JobID, 5*time.Second)
	if ev.Kind != EventFailed {
		t.Fatalf("final event %s, want failed", ev.Kind)
	}
	for _, want := range []string{"no longer allowed", "operator", "@alice"} {
		if !strings.Contains(ev.Error, want) {
			t.Errorf("refusal %q does not mention %q", ev.Error, want)
		}
	}
	if ran.Load() {
		t.Error("the handler ran although the policy refused the job")
	}
	if st, _ := h.client.Status(context.Background(), meta.JobID); st.Attempt != 1 {
		t.Errorf("refused job ran %d attempts; a refusal is final", st.Attempt)
	}
}

func TestFailedAttemptIsRetriedAndSaysSo(t *testing.T) {
	h := newHarness(t)
	var attempts atomic.Int32
	h.startWorker(h.deps(), WorkerOptions{Handlers: map[commands.Action]Handler{
		commands.ActionCreate: HandlerFunc(func(_ context.Context, j *Job) (*Result, error) {
			if attempts.Add(1) == 1 {
				return nil, errors.New("storage local: connection reset")
			}
			return &Result{Summary: fmt.Sprintf("done on attempt %d", j.Attempt)}, nil
		}),
	}})
	meta := h.enqueue(&commands.Create{Target: "data"})
	ev := h.waitFinal(meta.JobID, 10*time.Second)
	if ev.Kind != EventSucceeded || ev.Attempt != 2 || ev.Result.Summary != "done on attempt 2" {
		t.Fatalf("final event %+v: want succeeded on attempt 2", ev)
	}
	want := []EventKind{EventQueued, EventStarted, EventRetrying, EventStarted, EventSucceeded}
	if got := h.events.kinds(meta.JobID); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	for _, e := range h.events.of(meta.JobID) {
		if e.Kind == EventRetrying && !strings.Contains(e.Error, "connection reset") {
			t.Errorf("retrying event %q does not say why", e.Error)
		}
	}
}

func TestPermanentFailuresAndPanicsAreNotRetried(t *testing.T) {
	h := newHarness(t)
	var creates, verifies atomic.Int32
	h.startWorker(h.deps(), WorkerOptions{Handlers: map[commands.Action]Handler{
		commands.ActionCreate: HandlerFunc(func(context.Context, *Job) (*Result, error) {
			creates.Add(1)
			return nil, fmt.Errorf("unknown target %q: %w", "nope", ErrPermanent)
		}),
		commands.ActionVerify: HandlerFunc(func(context.Context, *Job) (*Result, error) {
			verifies.Add(1)
			var m map[string]int
			m["boom"]++ // nil map write panics
			return nil, nil
		}),
	}})
	c := h.enqueue(&commands.Create{Target: "nope"})
	v := h.enqueue(&commands.Verify{All: true})
	if ev := h.waitFinal(c.JobID, 5*time.Second); ev.Kind != EventFailed || !strings.Contains(ev.Error, `unknown target "nope"`) {
		t.Errorf("create: %s %q, want failed naming the target", ev.Kind, ev.Error)
	}
	if ev := h.waitFinal(v.JobID, 5*time.Second); ev.Kind != EventFailed || !strings.Contains(ev.Error, "crashed") {
		t.Errorf("verify: %s %q, want failed saying the handler crashed", ev.Kind, ev.Error)
	}
	time.Sleep(300 * time.Millisecond)
	if creates.Load() != 1 || verifies.Load() != 1 {
		t.Errorf("ran create %d and verify %d times; permanent failures and panics must not be retried", creates.Load(), verifies.Load())
	}
}

func TestRestoresRunBeforeChatCommandsBeforeScheduledBackups(t *testing.T) {
	h := newHarness(t)
	// Queue while no worker runs, then let one worker take them one at a time.
	sched, err := h.client.Enqueue(context.Background(), &commands.Create{Target: "data"}, Meta{Requester: alice, Schedule: "nightly"})
	if err != nil {
		t.Fatal(err)
	}
	chat := h.enqueue(&commands.List{})
	restore := h.enqueue(&commands.Restore{Name: "x", Target: "data"})
	for id, q := range map[string]string{sched.JobID: QueueScheduled, chat.JobID: QueueDefault, restore.JobID: QueueCritical} {
		if st, _ := h.client.Status(context.Background(), id); st.Queue != q {
			t.Errorf("job %s on queue %q, want %q", id, st.Queue, q)
		}
	}
	var mu sync.Mutex
	var order []string
	record := HandlerFunc(func(_ context.Context, j *Job) (*Result, error) {
		mu.Lock()
		order = append(order, j.Meta.JobID)
		mu.Unlock()
		return &Result{}, nil
	})
	h.startWorker(h.deps(), WorkerOptions{Concurrency: 1, Handlers: map[commands.Action]Handler{
		commands.ActionCreate: record, commands.ActionList: record, commands.ActionRestore: record}})
	h.waitFinal(sched.JobID, 10*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if want := []string{restore.JobID, chat.JobID, sched.JobID}; !slices.Equal(order, want) {
		t.Errorf("run order %v, want restore, chat command, scheduled backup %v", order, want)
	}
}

func TestStoppingWorkerHandsRunningJobBack(t *testing.T) {
	h := newHarness(t)
	started := make(chan int, 2)
	handler := HandlerFunc(func(ctx context.Context, j *Job) (*Result, error) {
		started <- j.Attempt
		if j.Attempt == 1 {
			<-ctx.Done() // stop at the next safe point
			return nil, ctx.Err()
		}
		return &Result{Summary: "finished by the second worker"}, nil
	})
	// cleanup is never retried after a failure, but a job handed back by
	// a stopping worker is resumed all the same.
	opts := WorkerOptions{Handlers: map[commands.Action]Handler{commands.ActionCleanup: handler}}
	stop := h.startWorker(h.deps(), opts)
	meta := h.enqueue(&commands.Cleanup{OlderThan: 30})
	<-started
	stop()
	st, _ := h.client.Status(context.Background(), meta.JobID)
	if st.State != StateRetrying {
		t.Fatalf("after a graceful stop the job is %s, want retrying (handed back)", st.State)
	}
	h.startWorker(h.deps(), opts)
	ev := h.waitFinal(meta.JobID, 10*time.Second)
	if ev.Kind != EventSucceeded || ev.Attempt != 2 {
		t.Fatalf("final event %s attempt %d, want succeeded on attempt 2", ev.Kind, ev.Attempt)
	}
	if !slices.Contains(h.events.kinds(meta.JobID), EventRetrying) {
		t.Error("the thread was not told the job was handed back and retried")
	}
}

func TestFailedCleanupIsNotRetried(t *testing.T) {
	h := newHarness(t)
	var runs atomic.Int32
	h.startWorker(h.deps(), WorkerOptions{Handlers: map[commands.Action]Handler{
		commands.ActionCleanup: HandlerFunc(func(context.Context, *Job) (*Result, error) {
			runs.Add(1)
			return nil, errors.New("storage local: connection reset while deleting packs")
		}),
	}})
	meta := h.enqueue(&commands.Cleanup{OlderThan: 30})
	if ev := h.waitFinal(meta.JobID, 5*time.Second); ev.Kind != EventFailed || !strings.Contains(ev.Error, "connection reset") {
		t.Fatalf("final event %s %q, want failed saying why", ev.Kind, ev.Error)
	}
	time.Sleep(1500 * time.Millisecond) // a retry would come within a second
	if n := runs.Load(); n != 1 {
		t.Errorf("cleanup ran %d times; a failed cleanup deletes data and must not be retried", n)
	}
}
