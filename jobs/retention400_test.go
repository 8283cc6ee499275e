package jobs

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/storage/retention"
)

// TestFourHundredDaysOfRetention runs the service's scheduler and worker
// on a real Redis with a simulated clock: a backup schedule fires every
// simulated day at 02:00 and the retention job at 04:00, with a GFS
// policy, for 400 days (BACKUPBOT_RETENTION_DAYS sets another number).
// What is left at the end is exactly what the README's rules keep of the
// whole history, and every retention run posted its summary to the
// configured channel.
func TestFourHundredDaysOfRetention(t *testing.T) {
	days := 400
	if v := os.Getenv("BACKUPBOT_RETENTION_DAYS"); v != "" {
		days, _ = strconv.Atoi(v)
	}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := &testClock{t: start}
	h := newClockedHarness(t, clock)
	policy := retention.Policy{Daily: retention.Rule{Count: 7}, Weekly: retention.Rule{Count: 4}, Monthly: retention.Rule{Count: 12}, Yearly: retention.Rule{Count: 3}}
	cfg := *h.cfg
	cfg.Retention = config.Retention{Policy: policy, Schedule: "0 4 * * *", Channel: "#retention"}
	h.cfg = &cfg
	e := &ScheduleEntry{Name: "daily", Cron: "0 2 * * *", Type: commands.TypeFull, Target: "data", Owner: alice, Channel: "ops",
		CreatedAt: start, UpdatedAt: start, Next: start.Add(2 * time.Hour)}
	if _, err := (scheduleStore{h.rdb}).put(context.Background(), e, true); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := NewScheduler(h.client, h.rdb, SchedulerOptions{Tick: 5 * time.Millisecond, Logger: quietLogger(),
		Config: func() *config.File { return h.cfg }, Now: clock.now})
	go func() { _ = s.Run(ctx) }()
	time.Sleep(50 * time.Millisecond) // the retention schedule's first sighting sets its next run

	finished := func(schedule string) int {
		h.events.mu.Lock()
		defer h.events.mu.Unlock()
		n := 0
		for _, ev := range h.events.events {
			if ev.Meta.Schedule == schedule && ev.Kind.Final() {
				n++
				if ev.Kind != EventSucceeded {
					t.Fatalf("a %s job failed: %s", schedule, ev.Error)
				}
			}
		}
		return n
	}
	waitFor := func(schedule string, n int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for finished(schedule) < n {
			if time.Now().After(deadline) {
				t.Fatalf("simulated %s: %s run %d did not finish", clock.now().Format(time.DateTime), schedule, n)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	var made []retention.Snapshot
	for d := range days {
		day := start.AddDate(0, 0, d)
		clock.mu.Lock()
		clock.t = day.Add(2*time.Hour + 30*time.Second)
		clock.mu.Unlock()
		waitFor("daily", d+1)
		made = append(made, retention.Snapshot{ID: strconv.Itoa(d), Time: clock.now(), Type: "full", Target: "data"})
		clock.mu.Lock()
		clock.t = day.Add(4*time.Hour + 30*time.Second)
		clock.mu.Unlock()
		waitFor(RetentionSchedule, d+1)
	}
	end := clock.now()

	var want []time.Time
	for _, dcs := range retention.Apply(made, policy, end) {
		if dcs.Keep {
			want = append(want, dcs.Snapshot.Time.UTC())
		}
	}
	var got []time.Time
	for _, sn := range h.snapshots() {
		got = append(got, sn.Time.UTC())
	}
	slices.SortFunc(want, time.Time.Compare)
	slices.SortFunc(got, time.Time.Compare)
	if !slices.EqualFunc(got, want, time.Time.Equal) {
		t.Fatalf("after %d days %d backups are left, the rules keep %d:\n got %v\nwant %v", days, len(got), len(want), got, want)
	}
	// Spot-check the documented set: the last 7 days, and for 400 days
	// from 2025-01-01 the last day of 2025 (yearly) and of every month of
	// the last year that has one.
	last := start.AddDate(0, 0, days-1).Add(2*time.Hour + 30*time.Second)
	for i := range 7 {
		if !slices.ContainsFunc(got, last.AddDate(0, 0, -i).Equal) {
			t.Errorf("the backup of %s (one of the last 7 days) is gone", last.AddDate(0, 0, -i).Format(time.DateOnly))
		}
	}
	if days >= 400 && !slices.ContainsFunc(got, time.Date(2025, 12, 31, 2, 0, 30, 0, time.UTC).Equal) {
		t.Errorf("the last backup of 2025 (yearly, monthly) is gone")
	}
	t.Logf("%d simulated days: %d backups kept: %v", days, len(got), got)

	// Every retention run posted a summary to the configured channel.
	h.events.mu.Lock()
	defer h.events.mu.Unlock()
	posted := 0
	for _, ev := range h.events.events {
		if ev.Meta.Schedule == RetentionSchedule && ev.Kind == EventSucceeded {
			if ev.Meta.Channel != "#retention" || !strings.Contains(ev.Result.Summary, "kept") || !strings.Contains(ev.Result.Summary, "freed") {
				t.Fatalf("retention summary %q to %q", ev.Result.Summary, ev.Meta.Channel)
			}
			posted++
		}
	}
	if posted != days {
		t.Errorf("%d retention summaries posted in %d days", posted, days)
	}
}
