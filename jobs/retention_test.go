package jobs

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/storage/retention"
)

// testClock is a clock the test moves.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newClockedHarness is newEngineHarness with the worker on clock.
func newClockedHarness(t *testing.T, clock *testClock) *engineHarness {
	t.Helper()
	h := newEngineTrees(t, 1<<20)
	deps := h.deps()
	deps.Now = clock.now
	h.startWorker(deps, WorkerOptions{TaskCheckInterval: 5 * time.Millisecond})
	return h
}

func TestRetentionJobAppliesPoliciesAndExpiryByItself(t *testing.T) {
	clock := &testClock{t: time.Now()}
	h := newClockedHarness(t, clock)
	// The worker stamps backups with its clock: a minute apart.
	for range 3 {
		h.run(&commands.Create{Type: commands.TypeFull, Target: "data", Compress: true})
		clock.add(time.Minute)
	}
	h.run(&commands.Create{Type: commands.TypeFull, Target: "config", Name: "short-lived", Retention: 1, Compress: true})
	clock.add(time.Minute)
	h.run(&commands.Create{Type: commands.TypeFull, Target: "config", Name: "plain", Compress: true})
	cfg := *h.cfg
	cfg.Retention = config.Retention{Policy: retention.Policy{Last: 2}, Schedule: "@every 1h", Channel: "#retention"}
	h.cfg = &cfg

	h.runScheduler(SchedulerOptions{Tick: 20 * time.Millisecond, Config: func() *config.File { return h.cfg }, Now: clock.now})
	// The first tick only sets the next run: nothing fires yet.
	time.Sleep(200 * time.Millisecond)
	if _, fired := h.events.wait(0, func(e Event) bool { return e.Meta.Schedule == RetentionSchedule }); fired {
		t.Fatal("the retention job fired at the scheduler's start")
	}
	retentionRun := func(n int) Event { // n: which run, for messages
		t.Helper()
		ev, ok := h.events.wait(10*time.Second, func(e Event) bool {
			return e.Meta.Schedule == RetentionSchedule && e.Kind.Final()
		})
		if !ok {
			t.Fatalf("retention run %d did not finish within 10 s", n)
		}
		if ev.Kind != EventSucceeded {
			t.Fatalf("retention run %d: %s: %s", n, ev.Kind, ev.Error)
		}
		if ev.Meta.Channel != "#retention" || ev.Meta.Requester.UserID != SystemRetention.UserID || ev.Meta.Requester.Platform != "system" {
			t.Errorf("retention run posts to %q as %v; want #retention as the system", ev.Meta.Channel, ev.Meta.Requester)
		}
		return ev
	}

	clock.add(61 * time.Minute)
	ev := retentionRun(1)
	if !strings.Contains(ev.Result.Summary, "Removed 1 backup from local, kept 4") || !strings.Contains(ev.Result.Summary, "freed") {
		t.Errorf("first retention run: %q; want the oldest data backup removed (last 2), 4 kept, space freed", ev.Result.Summary)
	}
	if got := len(h.snapshots()); got != 4 {
		t.Errorf("%d snapshots after the first run, want 4", got)
	}

	// Two days on, the short-lived backup's own retention has passed.
	clock.add(48 * time.Hour)
	h.events.mu.Lock()
	h.events.events = nil
	h.events.mu.Unlock()
	ev = retentionRun(2)
	if !strings.Contains(ev.Result.Summary, "Removed 1 backup from local, kept 3") || !strings.Contains(field(ev.Result, "Removed"), "1") {
		t.Errorf("second retention run: %q", ev.Result.Summary)
	}
	for _, sn := range h.snapshots() {
		if sn.Name == "short-lived" {
			t.Errorf("the backup made with --retention 1 is still there two days later")
		}
	}

	ev = h.run(&commands.Schedule{Op: commands.ScheduleList})
	list := field(ev.Result, "Schedules")
	if !strings.Contains(list, "retention (built-in)") || !strings.Contains(list, "@every 1h") || !strings.Contains(list, "succeeded") {
		t.Errorf("schedule list does not show the retention schedule with its last result:\n%s", list)
	}
}

func TestCleanupAppliesThePoliciesAndTheDryRunSaysWhy(t *testing.T) {
	h := newEngineHarness(t, WorkerOptions{})
	for range 3 {
		h.run(&commands.Create{Type: commands.TypeFull, Target: "data", Compress: true})
	}
	h.run(&commands.Create{Type: commands.TypeFull, Target: "config", Tags: []commands.Tag{{Key: "keep", Value: "true"}}, Compress: true})
	h.run(&commands.Create{Type: commands.TypeFull, Target: "config", Compress: true})
	cfg := *h.cfg
	cfg.Retention = config.Retention{Policy: retention.Policy{Last: 1}}
	h.cfg = &cfg

	ev := h.run(&commands.Cleanup{DryRun: true})
	plan := ev.Result.Report
	text := field(ev.Result, "Plan")
	if plan != nil {
		text = string(plan.Data)
	}
	for _, want := range []string{"last 1/1", "no rule keeps it", "tagged keep", "remove", "keep"} {
		if !strings.Contains(text, want) {
			t.Errorf("the dry run's plan does not say %q:\n%s", want, text)
		}
	}
	if !strings.Contains(ev.Result.Summary, "Would remove 2 backups") || len(h.snapshots()) != 5 {
		t.Errorf("dry run: %q, %d snapshots left", ev.Result.Summary, len(h.snapshots()))
	}
	ev = h.run(&commands.Cleanup{Force: true})
	if left := h.snapshots(); len(left) != 3 || !strings.Contains(ev.Result.Summary, "Removed 2 backups") {
		t.Errorf("cleanup by policy: %q, %d left; want the two older data backups removed", ev.Result.Summary, len(left))
	}
}
