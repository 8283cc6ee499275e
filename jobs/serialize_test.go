package jobs

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commands"
)

// Two workers with room for several jobs each never run two backups of one
// target at once, and every job still ends, each exactly once; backups of
// different targets do run side by side.
func TestOneBackupAtATimePerTarget(t *testing.T) {
	h := newHarness(t)
	h.cfg = testConfig(t.TempDir(), map[string]string{"a": t.TempDir(), "b": t.TempDir()})

	type span struct {
		target     string
		start, end time.Time
	}
	var mu sync.Mutex
	var spans []span
	runs := map[string]int{}
	slow := HandlerFunc(func(ctx context.Context, j *Job) (*Result, error) {
		c := j.Command.(*commands.Create)
		s := span{target: c.Target, start: time.Now()}
		time.Sleep(150 * time.Millisecond)
		s.end = time.Now()
		mu.Lock()
		spans = append(spans, s)
		runs[j.Meta.JobID]++
		mu.Unlock()
		return &Result{Summary: "ok"}, nil
	})
	o := WorkerOptions{Concurrency: 3, Handlers: map[commands.Action]Handler{commands.ActionCreate: slow}}
	h.startWorker(h.deps(), o)
	h.startWorker(h.deps(), o)

	var ids []string
	for i := range 6 {
		target := "a"
		if i%3 == 2 {
			target = "b"
		}
		ids = append(ids, h.enqueue(&commands.Create{Target: target}).JobID)
	}
	for _, id := range ids {
		if ev := h.waitFinal(id, 30*time.Second); ev.Kind != EventSucceeded {
			t.Fatalf("job %s ended %s: %s", id, ev.Kind, ev.Error)
		}
		if n := h.events.count(EventFailed); n != 0 {
			t.Fatalf("%d failed events; a busy target must not count as a failure", n)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if runs[id] != 1 {
			t.Errorf("job %s ran %d times, want exactly once", id, runs[id])
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start.Before(spans[j].start) })
	last := map[string]time.Time{}
	parallel := false
	for i, s := range spans {
		if end, ok := last[s.target]; ok && s.start.Before(end) {
			t.Errorf("two backups of target %s overlapped: one ended %s, the next started %s",
				s.target, end.Format(time.StampMilli), s.start.Format(time.StampMilli))
		}
		last[s.target] = s.end
		for _, o := range spans[:i] {
			if o.target != s.target && s.start.Before(o.end) {
				parallel = true
			}
		}
	}
	if !parallel {
		t.Error("backups of different targets never ran side by side: the run lock is too wide")
	}
}
