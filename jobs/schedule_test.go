package jobs

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commands"
)

func TestScheduleCreateUpdateListDelete(t *testing.T) {
	h := newHarness(t)
	h.cfg = testConfig(t.TempDir(), map[string]string{"data": t.TempDir()})
	h.startWorker(h.deps(), WorkerOptions{})
	eh := &engineHarness{harness: h}

	ev := eh.run(&commands.Schedule{Op: commands.ScheduleCreate, Name: "daily", Cron: "0 2 * * *", Type: commands.TypeIncremental, Target: "data"})
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
	ev = eh.run(&commands.Schedule{Op: commands.ScheduleUpdate, Name: "daily", Retention: 90, Cron: "30 3 * * *"})
	if field(ev.Result, "Retention") != "90 days" || field(ev.Result, "Cron") != "30 3 * * *" || field(ev.Result, "Type") != "incremental" {
		t.Errorf("update kept/changed the wrong fields: %+v", ev.Result.Fields)
	}
	ev = eh.run(&commands.Schedule{Op: commands.ScheduleList})
	if ev.Result.Summary != "1 schedules" || !strings.Contains(field(ev.Result, "Schedules"), "daily") {
		t.Errorf("list: %q %q", ev.Result.Summary, field(ev.Result, "Schedules"))
	}
	eh.run(&commands.Schedule{Op: commands.ScheduleDelete, Name: "daily"})
	ev = eh.run(&commands.Schedule{Op: commands.ScheduleList})
	if !strings.HasPrefix(ev.Result.Summary, "No schedules") {
		t.Errorf("list after delete: %q", ev.Result.Summary)
	}
}

func TestSchedulerFiresOnceAsTheOwnerOnTheScheduledQueue(t *testing.T) {
	h := newHarness(t)
	h.cfg = testConfig(t.TempDir(), map[string]string{"data": t.TempDir()})
	// Store a schedule due now, as `schedule --action create` would.
	e := &ScheduleEntry{Name: "often", Cron: "@every 1h", Type: commands.TypeFull, Target: "data", Owner: alice, Channel: "ops",
		CreatedAt: time.Now(), UpdatedAt: time.Now(), Next: time.Now().Add(-time.Second)}
	if _, err := (scheduleStore{h.rdb}).put(context.Background(), e, true); err != nil {
		t.Fatal(err)
	}
	// Two schedulers, as in two processes: only one fires.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 2 {
		s := NewScheduler(h.client, h.rdb, SchedulerOptions{Tick: 50 * time.Millisecond, Logger: quietLogger()})
		go func() { _ = s.Run(ctx) }()
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
