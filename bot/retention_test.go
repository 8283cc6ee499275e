package bot_test

import (
	"context"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/console"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/storage"
	"github.com/backupbot/backupbot/storage/engine"
	"github.com/backupbot/backupbot/storage/retention"
)

// simClock is the service's clock in a test: the worker (snapshot times,
// expiry, retention, schedule times) and the scheduler read it.
type simClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *simClock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *simClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// channelLog is the console as the router's surface, remembering which
// channel each post went to (the console prints every channel's posts in
// one transcript).
type channelLog struct {
	*console.Console
	mu    sync.Mutex
	posts map[string][]string // channel → texts
}

func (c *channelLog) Post(ctx context.Context, channel, thread string, msg bot.Message) (bot.MessageRef, error) {
	c.mu.Lock()
	c.posts[channel] = append(c.posts[channel], msg.Text)
	c.mu.Unlock()
	return c.Console.Post(ctx, channel, thread, msg)
}

func (c *channelLog) texts(channel string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.posts[channel])
}

// finals counts the jobs that ended, by schedule (and "" for the rest),
// from the job event stream; a failure fails the test.
type finals struct {
	t  *testing.T
	mu sync.Mutex
	n  map[string]int
}

func (f *finals) add(ev jobs.Event) {
	if !ev.Kind.Final() {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if ev.Kind != jobs.EventSucceeded {
		f.t.Errorf("job %s (%s, schedule %q) ended %s: %s", ev.Meta.JobID, ev.Action, ev.Meta.Schedule, ev.Kind, ev.Error)
	}
	f.n[ev.Meta.Schedule]++
}

func (f *finals) wait(clock *simClock, schedule string, n int) {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		f.mu.Lock()
		got := f.n[schedule]
		f.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) || f.t.Failed() {
			f.t.Fatalf("simulated %s: run %d of schedule %q did not finish", clock.now().Format(time.DateTime), n, schedule)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestFourHundredDaysOfRetentionThroughConsole runs the service's stack on
// a real Redis, its clock simulated: the console adapter, the router, the
// scheduler and a worker over a local repository. Alice creates a daily
// backup schedule by typing the command at the console; the configuration
// gives that schedule a GFS policy and runs the retention job every day
// at 04:00 with its summary to #retention. After 400 simulated days
// (BACKUPBOT_RETENTION_DAYS sets another number) what is left is exactly
// what the README's rules keep of the whole history, and the console
// printed one retention summary to #retention per day.
func TestFourHundredDaysOfRetentionThroughConsole(t *testing.T) {
	days := 400
	if v := os.Getenv("BACKUPBOT_RETENTION_DAYS"); v != "" {
		days, _ = strconv.Atoi(v)
	}
	rdb := redisClient(t)
	dir := t.TempDir()
	gfs := retention.Policy{Daily: retention.Rule{Count: 7}, Weekly: retention.Rule{Count: 4}, Monthly: retention.Rule{Count: 12}, Yearly: retention.Rule{Count: 3}}
	cfg := localConfig(dir, writeData(t, dir, threeFiles))
	cfg.Retention = config.Retention{Schedule: "0 4 * * *", Channel: "#retention", TimeZone: "UTC",
		Schedules: map[string]retention.Policy{"daily": gfs}}
	holder := testHolder(t)
	quiet := silent()
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := &simClock{t: start}

	client := newJobClient(t, rdb, quiet)
	router := bot.NewRouter(bot.RouterOptions{Parser: cfg.Parser(), Jobs: client, Redis: rdb, Policy: holder,
		EditInterval: 100 * time.Millisecond, Logger: quiet})
	out := &transcript{}
	alice := console.New(console.Options{User: bot.Identity{UserID: "alice"}, Out: out, EchoInput: true})
	surface := &channelLog{Console: alice, posts: map[string][]string{}}
	router.Register(bot.Console, surface)

	t.Cleanup(func() {
		if t.Failed() {
			lines := out.Lines()
			t.Logf("console transcript (last 60 lines):\n%s", strings.Join(lines[max(0, len(lines)-60):], "\n"))
		}
	})
	bg := runServices(t, nil)
	ctx := bg.ctx
	done := &finals{t: t, n: map[string]int{}}
	bg.run(func(ctx context.Context) error { return jobs.Subscribe(ctx, rdb, done.add) })
	bg.run(router.Run)
	d := workerDeps(cfg, holder)
	d.Logger, d.Now = quiet, clock.now
	bg.run(jobs.NewWorker(nil, rdb, d, jobs.WorkerOptions{Concurrency: 2, TaskCheckInterval: 5 * time.Millisecond}).Run)
	bg.run(jobs.NewScheduler(client, rdb, jobs.SchedulerOptions{Tick: 5 * time.Millisecond, Logger: quiet,
		Config: d.Config, Now: clock.now}).Run)
	// The event subscription and the router's relay read from now on; the
	// scheduler's first tick sets the retention job's first run (04:00).
	time.Sleep(100 * time.Millisecond)

	if err := alice.Run(ctx, router, strings.NewReader("/backup schedule --action create --name daily --cron \"0 2 * * *\" --type full --target data\n")); err != nil {
		t.Fatal(err)
	}
	done.wait(clock, "", 1)

	var made []retention.Snapshot
	for d := range days {
		day := start.AddDate(0, 0, d)
		clock.set(day.Add(2*time.Hour + 30*time.Second))
		done.wait(clock, "daily", d+1)
		made = append(made, retention.Snapshot{ID: strconv.Itoa(d), Time: clock.now(), Type: "full", Target: "data"})
		clock.set(day.Add(4*time.Hour + 30*time.Second))
		done.wait(clock, jobs.RetentionSchedule, d+1)
	}
	end := clock.now()

	got := snapshotTimes(t, cfg.Storages["local"])
	checkRetained(t, made, gfs, end, got)
	t.Logf("%d simulated days: %d backups kept", days, len(got))

	// The console printed one summary per retention run to #retention
	// (posted as the run's result, or in a batch line when the channel is
	// behind).
	summary := regexp.MustCompile(`Removed \d+ backups? from local, kept \d+, freed `)
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := 0
		for _, text := range surface.texts("#retention") {
			n += len(summary.FindAllString(text, -1))
		}
		if n == days {
			break
		}
		if n > days || time.Now().After(deadline) {
			t.Fatalf("%d retention summaries printed to #retention in %d days", n, days)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(surface.texts("console")); n == 0 {
		t.Errorf("nothing about the scheduled backups was printed to the console's own channel")
	}
}

// snapshotTimes lists the times of the snapshots in a local repository.
func snapshotTimes(t *testing.T, spec storage.Spec) []time.Time {
	t.Helper()
	var out []time.Time
	withRepo(t, spec, func(ctx context.Context, e *engine.Engine) {
		snaps, err := e.Snapshots(ctx, engine.SnapshotFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, sn := range snaps {
			out = append(out, sn.Time.UTC())
		}
	})
	return out
}

// withRepo opens the repository at spec (with the test password) for fn
// and closes it after.
func withRepo(t *testing.T, spec storage.Spec, fn func(ctx context.Context, e *engine.Engine)) {
	t.Helper()
	ctx := context.Background()
	b, err := storage.Open(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	e, err := engine.Open(ctx, b, engine.OpenOptions{Password: repoPassword})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	fn(ctx, e)
}

// checkRetained checks that the snapshots left (their times) are exactly
// what the retention rules keep of the whole history made by end, and
// spot-checks the documented set: the last 7 days, and for 400 days from
// 2025-01-01 the last backup of 2025 (yearly and monthly).
func checkRetained(t *testing.T, made []retention.Snapshot, p retention.Policy, end time.Time, got []time.Time) {
	t.Helper()
	var want []time.Time
	for _, d := range retention.Apply(made, p, end) {
		if d.Keep {
			want = append(want, d.Snapshot.Time.UTC())
		}
	}
	slices.SortFunc(want, time.Time.Compare)
	slices.SortFunc(got, time.Time.Compare)
	if !slices.EqualFunc(got, want, time.Time.Equal) {
		t.Fatalf("after %d days %d backups are left, the rules keep %d:\n got %v\nwant %v", len(made), len(got), len(want), got, want)
	}
	last := made[len(made)-1].Time
	for i := range min(7, len(made)) {
		if !slices.ContainsFunc(got, last.AddDate(0, 0, -i).Equal) {
			t.Errorf("the backup of %s (one of the last 7 days) is gone", last.AddDate(0, 0, -i).Format(time.DateOnly))
		}
	}
	if len(made) >= 400 && !slices.ContainsFunc(got, time.Date(2025, 12, 31, 2, 0, 30, 0, time.UTC).Equal) {
		t.Errorf("the last backup of 2025 (yearly, monthly) is gone")
	}
}
