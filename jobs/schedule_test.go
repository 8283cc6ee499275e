package jobs

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/policy"
)

// putDueSchedule stores an hourly schedule of alice's, posting to ops and
// due a second ago, as `schedule --action create` would.
func (h *harness) putDueSchedule(name string, kind commands.ScheduleKind, typ commands.BackupType, target string) {
	h.t.Helper()
	now := time.Now()
	e := &ScheduleEntry{Name: name, Cron: "@every 1h", Kind: kind, Type: typ, Target: target, Owner: alice, Channel: "ops",
		CreatedAt: now, UpdatedAt: now, Next: now.Add(-time.Second)}
	if _, err := (scheduleStore{h.rdb}).put(context.Background(), e, true); err != nil {
		h.t.Fatal(err)
	}
}

// runScheduler runs a quiet scheduler until the test ends.
func (h *harness) runScheduler(o SchedulerOptions) {
	o.Logger = quietLogger()
	ctx, cancel := context.WithCancel(context.Background())
	h.t.Cleanup(cancel)
	s := NewScheduler(h.client, h.rdb, o)
	go func() { _ = s.Run(ctx) }()
}

func TestScheduleCreateUpdateListDelete(t *testing.T) {
	h := newHarness(t)
	h.cfg = testConfig(t.TempDir(), map[string]string{"data": t.TempDir()})
	h.startWorker(h.deps(), WorkerOptions{})

	ev := h.run(&commands.Schedule{Op: commands.ScheduleCreate, Name: "daily", Cron: "0 2 * * *", Type: commands.TypeIncremental, Target: "data"})
	if !strings.Contains(ev.Result.Summary, "Schedule daily created") || field(ev.Result, "Next run") == "" || field(ev.Result, "Owner") != "@alice" {
		t.Errorf("create: %+v", ev.Result)
	}
	for _, tc := range []struct {
		cmd  *commands.Schedule
		want string
	}{
		{&commands.Schedule{Op: commands.ScheduleCreate, Name: "daily", Cron: "@daily"}, "already exists"},
		{&commands.Schedule{Op: commands.ScheduleUpdate, Name: "weekly", Retention: 90}, `no schedule "weekly"`},
		{&commands.Schedule{Op: commands.ScheduleCreate, Name: "bad", Cron: "61 * * * *"}, "cron expression"},
		{&commands.Schedule{Op: commands.ScheduleCreate, Name: "odd", Cron: "@daily", Target: "nope"}, `unknown target "nope"`},
		{&commands.Schedule{Op: commands.ScheduleDelete, Name: "ghost"}, `no schedule "ghost"`},
	} {
		meta := h.enqueue(tc.cmd)
		if ev := h.waitFinal(meta.JobID, 5*time.Second); ev.Kind != EventFailed || !strings.Contains(ev.Error, tc.want) {
			t.Errorf("schedule %s %s: %s %q, want failed mentioning %q", tc.cmd.Op, tc.cmd.Name, ev.Kind, ev.Error, tc.want)
		}
	}
	ev = h.run(&commands.Schedule{Op: commands.ScheduleUpdate, Name: "daily", Retention: 90, Cron: "30 3 * * *"})
	if field(ev.Result, "Retention") != "90 days" || field(ev.Result, "Cron") != "30 3 * * *" || field(ev.Result, "Type") != "incremental" {
		t.Errorf("update kept/changed the wrong fields: %+v", ev.Result.Fields)
	}
	ev = h.run(&commands.Schedule{Op: commands.ScheduleList})
	if ev.Result.Summary != "1 schedules" || !strings.Contains(field(ev.Result, "Schedules"), "daily") {
		t.Errorf("list: %q %q", ev.Result.Summary, field(ev.Result, "Schedules"))
	}
	h.run(&commands.Schedule{Op: commands.ScheduleDelete, Name: "daily"})
	ev = h.run(&commands.Schedule{Op: commands.ScheduleList})
	if !strings.HasPrefix(ev.Result.Summary, "No schedules") {
		t.Errorf("list after delete: %q", ev.Result.Summary)
	}
}

func TestSchedulerFiresOnceAsTheOwnerOnTheScheduledQueue(t *testing.T) {
	h := newHarness(t)
	h.cfg = testConfig(t.TempDir(), map[string]string{"data": t.TempDir()})
	h.putDueSchedule("often", "", commands.TypeFull, "data")
	// Two schedulers, as in two processes: only one fires.
	for range 2 {
		h.runScheduler(SchedulerOptions{Tick: 50 * time.Millisecond})
	}
	ev, ok := h.events.wait(5*time.Second, func(e Event) bool { return e.Kind == EventQueued })
	if !ok {
		t.Fatal("the due schedule was not fired within 5 s")
	}
	time.Sleep(500 * time.Millisecond) // ten more ticks of each scheduler
	if queued := h.events.count(EventQueued); queued != 1 {
		t.Errorf("the schedule fired %d times, want once", queued)
	}
	st, err := h.client.Status(context.Background(), ev.Meta.JobID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Queue != QueueScheduled || st.Meta.Schedule != "often" || st.Meta.Requester.UserID != "alice" || st.Action != "create" {
		t.Errorf("scheduled job %+v: want a create on the scheduled queue as the owner", st)
	}
	got, _ := (scheduleStore{h.rdb}).get(context.Background(), "often")
	if got.LastJob != ev.Meta.JobID || !got.Next.After(time.Now().Add(50*time.Minute)) {
		t.Errorf("after firing: last job %q next %s; want the job and the next hour", got.LastJob, got.Next)
	}
}

func TestAFailedScheduleStandsOutInTheList(t *testing.T) {
	h := newHarness(t)
	h.cfg = testConfig(t.TempDir(), map[string]string{"gone": filepath.Join(t.TempDir(), "not-there")})
	h.startWorker(h.deps(), WorkerOptions{})
	h.putDueSchedule("nightly", "", commands.TypeFull, "gone")
	h.runScheduler(SchedulerOptions{Tick: 20 * time.Millisecond})
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
		h.putDueSchedule(name, kind, commands.TypeIncremental, "data")
	}
	h.runScheduler(SchedulerOptions{Tick: 20 * time.Millisecond})
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
