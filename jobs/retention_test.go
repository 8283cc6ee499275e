package jobs

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/policy"
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
	dir := t.TempDir()
	h := &engineHarness{harness: newHarness(t), repo: filepath.Join(dir, "repo"), data: filepath.Join(dir, "data"), conf: filepath.Join(dir, "config")}
	h.files = writeTree(t, h.data, 1<<20)
	writeTree(t, h.conf, 1000)
	h.cfg = testConfig(h.repo, map[string]string{"data": h.data, "config": h.conf})
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

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := NewScheduler(h.client, h.rdb, SchedulerOptions{Tick: 20 * time.Millisecond, Logger: quietLogger(),
		Config: func() *config.File { return h.cfg }, Now: clock.now})
	go func() { _ = s.Run(ctx) }()
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
	if !strings.Contains(ev.Result.Summary, "Removed 1 backups from local, kept 4") || !strings.Contains(ev.Result.Summary, "freed") {
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
	if !strings.Contains(ev.Result.Summary, "Removed 1 backups from local, kept 3") || !strings.Contains(field(ev.Result, "Removed"), "1") {
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

func TestAFailedScheduleStandsOutInTheList(t *testing.T) {
	h := newHarness(t)
	h.cfg = testConfig(t.TempDir(), map[string]string{"gone": filepath.Join(t.TempDir(), "not-there")})
	h.startWorker(h.deps(), WorkerOptions{})
	e := &ScheduleEntry{Name: "nightly", Cron: "@every 1h", Type: commands.TypeFull, Target: "gone", Owner: alice, Channel: "ops",
		CreatedAt: time.Now(), UpdatedAt: time.Now(), Next: time.Now().Add(-time.Second)}
	if _, err := (scheduleStore{h.rdb}).put(context.Background(), e, true); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := NewScheduler(h.client, h.rdb, SchedulerOptions{Tick: 20 * time.Millisecond, Logger: quietLogger()})
	go func() { _ = s.Run(ctx) }()
	ev, ok := h.events.wait(10*time.Second, func(e Event) bool { return e.Meta.Schedule == "nightly" && e.Kind.Final() })
	if !ok || ev.Kind != EventFailed {
		t.Fatalf("the scheduled backup of a missing path: %+v, want it failed", ev)
	}
	meta := h.enqueue(&commands.Schedule{Op: commands.ScheduleList})
	res := h.waitFinal(meta.JobID, 5*time.Second).Result
	list := field(res, "Schedules")
	if !strings.Contains(list, "⚠ nightly") || !strings.Contains(list, "FAILED: ") || !strings.Contains(list, "does not exist") || !strings.Contains(res.Summary, "1 failed last time") {
		t.Errorf("a schedule whose last run failed does not stand out: %q\n%s", res.Summary, list)
	}
}

func TestOnlyTheOwnerOrAnAdminChangesASchedule(t *testing.T) {
	h := newHarness(t)
	h.cfg = testConfig(t.TempDir(), map[string]string{"data": t.TempDir()})
	cfg := policy.DefaultConfig()
	cfg.Bindings = map[string][]string{"admin": {"console:alice"}, "operator": {"console:bob", "console:carol"}}
	pol, err := policy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	deps := h.deps()
	deps.Policy = func() Rechecker { return pol }
	h.startWorker(deps, WorkerOptions{})
	bob := policy.Identity{Platform: "console", UserID: "bob", UserName: "bob"}
	carol := policy.Identity{Platform: "console", UserID: "carol", UserName: "carol"}
	as := func(who policy.Identity, cmd commands.Command) Event {
		t.Helper()
		meta, err := h.client.Enqueue(context.Background(), cmd, Meta{Requester: who, Channel: "ops"})
		if err != nil {
			t.Fatal(err)
		}
		return h.waitFinal(meta.JobID, 5*time.Second)
	}
	owner := func(name string) string {
		e, err := (scheduleStore{h.rdb}).get(context.Background(), name)
		if err != nil || e == nil {
			t.Fatalf("schedule %s: %v", name, err)
		}
		return e.Owner.UserID
	}
	if ev := as(alice, &commands.Schedule{Op: commands.ScheduleCreate, Name: "admins", Cron: "@daily", Target: "data"}); ev.Kind != EventSucceeded {
		t.Fatalf("create as admin: %s %s", ev.Kind, ev.Error)
	}
	for _, cmd := range []*commands.Schedule{
		{Op: commands.ScheduleUpdate, Name: "admins", Cron: "@hourly"},
		{Op: commands.ScheduleDelete, Name: "admins"},
	} {
		ev := as(bob, cmd)
		if ev.Kind != EventFailed || !strings.Contains(ev.Error, "only its owner or an admin") || !strings.Contains(ev.Error, "alice") {
			t.Errorf("an operator's %s of the admin's schedule: %s %q; want it refused, naming the owner", cmd.Op, ev.Kind, ev.Error)
		}
	}
	if owner("admins") != "alice" {
		t.Error("a refused update changed the owner")
	}
	// Bob's own schedule: carol (operator) may not touch it, bob may, and
	// alice (admin) may; it then runs as alice, who changed it last.
	if ev := as(bob, &commands.Schedule{Op: commands.ScheduleCreate, Name: "bobs", Cron: "@daily", Target: "data"}); ev.Kind != EventSucceeded {
		t.Fatalf("create as operator: %s %s", ev.Kind, ev.Error)
	}
	if ev := as(carol, &commands.Schedule{Op: commands.ScheduleUpdate, Name: "bobs", Cron: "@hourly"}); ev.Kind != EventFailed {
		t.Errorf("another operator updated bob's schedule: %s", ev.Kind)
	}
	if ev := as(bob, &commands.Schedule{Op: commands.ScheduleUpdate, Name: "bobs", Cron: "@hourly"}); ev.Kind != EventSucceeded {
		t.Errorf("the owner's update: %s %s", ev.Kind, ev.Error)
	}
	if ev := as(alice, &commands.Schedule{Op: commands.ScheduleUpdate, Name: "bobs", Retention: 30}); ev.Kind != EventSucceeded || owner("bobs") != "alice" {
		t.Errorf("the admin's update: %s %s, owner now %s; want it done and the schedule running as alice", ev.Kind, ev.Error, owner("bobs"))
	}
}

func TestAScheduleOfEachKindFiresAndItsResultShows(t *testing.T) {
	h := newEngineHarness(t, WorkerOptions{})
	h.run(&commands.Create{Type: commands.TypeFull, Target: "data", Compress: true})
	kinds := map[string]commands.ScheduleKind{"nightly": commands.ScheduleBackup, "check": commands.ScheduleVerifyDeep,
		"quick": commands.ScheduleVerify, "tidy": commands.ScheduleCleanup}
	for name, kind := range kinds {
		e := &ScheduleEntry{Name: name, Cron: "@every 1h", Kind: kind, Type: commands.TypeIncremental, Target: "data", Owner: alice, Channel: "ops",
			CreatedAt: time.Now(), UpdatedAt: time.Now(), Next: time.Now().Add(-time.Second)}
		if _, err := (scheduleStore{h.rdb}).put(context.Background(), e, true); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := NewScheduler(h.client, h.rdb, SchedulerOptions{Tick: 20 * time.Millisecond, Logger: quietLogger()})
	go func() { _ = s.Run(ctx) }()
	want := map[string]string{"nightly": "create", "check": "verify", "quick": "verify", "tidy": "cleanup"}
	for name, action := range want {
		ev, ok := h.events.wait(30*time.Second, func(e Event) bool { return e.Meta.Schedule == name && e.Kind.Final() })
		if !ok || ev.Kind != EventSucceeded {
			t.Fatalf("schedule %s: %+v; want its job to succeed", name, ev)
		}
		st, err := h.client.Status(context.Background(), ev.Meta.JobID)
		if err != nil || st.Action != action {
			t.Errorf("schedule %s ran %q (%v), want %s", name, st.Action, err, action)
		}
		if depth := map[string]string{"check": "Verify (deep)", "quick": "Verify (quick)"}[name]; depth != "" && !strings.HasPrefix(ev.Result.Summary, depth) {
			t.Errorf("schedule %s: %q, want %s", name, ev.Result.Summary, depth)
		}
	}
	ev := h.run(&commands.Schedule{Op: commands.ScheduleList})
	list := field(ev.Result, "Schedules")
	for name, kind := range map[string]string{"nightly": "incremental", "check": "verify-deep", "quick": "verify", "tidy": "cleanup"} {
		line := ""
		for l := range strings.SplitSeq(list, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), name+" ") {
				line = l
			}
		}
		if !strings.Contains(line, kind) || !strings.Contains(line, "succeeded") {
			t.Errorf("schedule list line of %s: %q; want its kind %s and its last result", name, line, kind)
		}
	}
}
