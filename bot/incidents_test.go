package bot_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/alerts"
	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/console"
	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/policy/audit"
	"github.com/backupbot/backupbot/storage"
)

// oncall reads the console transcript the incident tests' on-call channel
// is posted to.
type oncall struct {
	t   *testing.T
	out *transcript
}

// count is how many lines match re.
func (o oncall) count(re string) int {
	rx := regexp.MustCompile(re)
	n := 0
	for _, l := range o.out.lines() {
		if rx.MatchString(l) {
			n++
		}
	}
	return n
}

// waitFor waits up to 15 s for n lines matching re and returns the last
// one's submatches.
func (o oncall) waitFor(re string, n int) []string {
	o.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(15 * time.Second)
	for {
		var last []string
		c := 0
		for _, l := range o.out.lines() {
			if m := rx.FindStringSubmatch(l); m != nil {
				c, last = c+1, m
			}
		}
		if c >= n {
			return last
		}
		if time.Now().After(deadline) {
			o.t.Fatalf("%d lines matching %q, want %d", c, re, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// incidentStack is the on-call path in one process on a real Redis: the
// router with alice's console, the Alerter posting to channel "oncall", a
// worker (recording metrics) on the config cfg holds, an audit log.
type incidentStack struct {
	oncall
	ctx       context.Context
	rdb       *redis.Client
	cfg       *atomic.Pointer[config.File]
	client    *jobs.Client
	handler   bot.Handler
	alice     *console.Console
	incidents *alerts.Incidents
	auditLog  *audit.Log
	auditPath string
}

// incidentOptions vary an incidentStack.
type incidentOptions struct {
	Webhooks *alerts.Webhooks
	// Now is the clock of the incidents and the Alerter (default time.Now).
	Now func() time.Time
}

func newIncidentStack(t *testing.T, cfg *atomic.Pointer[config.File], o incidentOptions) *incidentStack {
	t.Helper()
	rdb := redisClient(t)
	pol, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	holder := policy.NewHolder(pol)
	s := &incidentStack{oncall: oncall{t: t, out: &transcript{}}, rdb: rdb, cfg: cfg, auditPath: filepath.Join(t.TempDir(), "audit.jsonl")}
	s.auditLog, err = audit.New(rdb, audit.Options{File: s.auditPath})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.auditLog.Close() })
	s.client = jobs.NewClient(nil, rdb, jobs.ClientOptions{})
	t.Cleanup(func() { s.client.Close() })
	parser := func() commands.Parser { return cfg.Load().Parser() }
	router := bot.NewRouter(bot.RouterOptions{Parser: parser(), Jobs: s.client, Redis: rdb, Policy: holder, Audit: s.auditLog, EditInterval: 100 * time.Millisecond})
	s.alice = console.New(console.Options{User: bot.Identity{UserID: "alice"}, Out: s.out, EchoInput: true})
	router.Register(bot.Console, s.alice)
	s.incidents = alerts.NewIncidents(rdb, parser)
	if o.Now != nil {
		s.incidents.SetClock(o.Now)
	}
	alerter := bot.NewAlerter(router, bot.AlerterOptions{
		Webhooks:  o.Webhooks,
		Incidents: s.incidents,
		Channels:  map[bot.Platform]string{bot.Console: "oncall"},
		Mentions:  []string{"@oncall"},
		Now:       o.Now,
	})
	s.handler = alerter.Wrap(router)

	ctx, cancel := context.WithCancel(context.Background())
	s.ctx = ctx
	var wg sync.WaitGroup
	wg.Go(func() { _ = router.Run(ctx) })
	wg.Go(func() { _ = alerter.Run(ctx) })
	if o.Webhooks != nil {
		wg.Go(func() { _ = o.Webhooks.Run(ctx) })
	}
	rec := alerts.NewRecorder(rdb, cfg.Load, nil)
	w := jobs.NewWorker(nil, rdb, jobs.Deps{
		Config:   cfg.Load,
		Password: func(storage.Spec) (string, error) { return "test repository password", nil },
		Policy:   func() jobs.Rechecker { return holder.Policy() },
		Audit:    rec.Record,
	}, jobs.WorkerOptions{Concurrency: 1, RetryDelay: func(int) time.Duration { return 0 }})
	wg.Go(func() { _ = w.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if t.Failed() {
			t.Logf("console transcript:\n%s", strings.Join(s.out.lines(), "\n"))
		}
	})
	time.Sleep(100 * time.Millisecond) // subscribers reading
	return s
}

// run enqueues text as alice would (by the scheduler when schedule is
// set) and waits for the job to end in state want.
func (s *incidentStack) run(text, schedule string, want jobs.State) string {
	s.t.Helper()
	cmd, err := s.cfg.Load().Parser().Parse(text)
	if err != nil {
		s.t.Fatal(err)
	}
	meta, err := s.client.Enqueue(s.ctx, cmd, jobs.Meta{Requester: policy.Identity{Platform: "console", UserID: "alice"}, Channel: "console", Schedule: schedule, Text: text})
	if err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := s.client.Status(s.ctx, meta.JobID)
		if err == nil && (st.State == jobs.StateFailed || st.State == jobs.StateSucceeded) {
			if st.State != want {
				s.t.Fatalf("job %s (%s) ended %s, want %s", meta.JobID, text, st.State, want)
			}
			return meta.JobID
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("job %s (%s) did not end within 60 s", meta.JobID, text)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// click sends a line (a button click) from user's console.
func (s *incidentStack) click(user, line string) {
	s.t.Helper()
	c := s.alice
	if user != "alice" {
		c = console.New(console.Options{User: bot.Identity{UserID: user}, Out: s.out, EchoInput: true})
	}
	if err := c.Run(s.ctx, s.handler, strings.NewReader(line+"\n")); err != nil {
		s.t.Error(err)
	}
}

// opened waits for the root message of an incident whose root says what
// and returns the root's message ID and the incident's ID.
func (s *incidentStack) opened(what string) (root, id string) {
	s.t.Helper()
	m := s.waitFor(`^\[(msg-\d+)\] 🔴 OPEN \[critical\] `+what+` failing: incident `+"`"+`(inc-[0-9a-f]+)`+"`", 1)
	return m[1], m[2]
}

// audited fails unless the audit log holds an entry of each kind.
func (s *incidentStack) audited(kinds ...audit.Kind) {
	s.t.Helper()
	s.auditLog.Close()
	b, err := os.ReadFile(s.auditPath)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, kind := range kinds {
		if !strings.Contains(string(b), `"kind":"`+string(kind)+`"`) {
			s.t.Errorf("audit log has no %s entry:\n%s", kind, b)
		}
	}
}

// TestIncidentThroughConsole is issue 14's first point through the console
// adapter, a real Redis and a real worker: a scheduled backup whose storage
// is unreachable fails three times, giving one incident root message in the
// on-call channel, three entries in its thread and the root edited in
// place; an Acknowledge by someone without the role is refused (and
// audited); once the storage is back, Retry now runs it again, it succeeds
// and resolves the incident.
func TestIncidentThroughConsole(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "a.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The storage's path lies under a regular file: it cannot be reached.
	if err := os.WriteFile(filepath.Join(dir, "unmounted"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	mkcfg := func(nasPath string) *config.File {
		return &config.File{
			Storages: map[string]storage.Spec{"nas": {Type: "local", Path: nasPath}},
			Targets:  map[string]config.Target{"data": {Paths: []string{data}}},
		}
	}
	var cfg atomic.Pointer[config.File]
	cfg.Store(mkcfg(filepath.Join(dir, "unmounted", "repo")))

	// A webhook receiver that verifies the signature and fails its first call.
	secret := []byte("hook-secret")
	var hookMu sync.Mutex
	var hookEvents []string
	calls := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := alerts.VerifySignature(secret, r.Header.Get(alerts.HeaderTimestamp), r.Header.Get(alerts.HeaderSignature), body, time.Now(), time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		hookMu.Lock()
		defer hookMu.Unlock()
		if calls++; calls == 1 {
			http.Error(w, "busy", http.StatusInternalServerError)
			return
		}
		var p alerts.Payload
		_ = json.Unmarshal(body, &p)
		hookEvents = append(hookEvents, p.Event)
	}))
	t.Cleanup(hook.Close)
	webhooks := alerts.NewWebhooks([]alerts.Hook{{URL: hook.URL, Secret: secret}}, alerts.WebhookOptions{Backoff: func(int) time.Duration { return 50 * time.Millisecond }})
	s := newIncidentStack(t, &cfg, incidentOptions{Webhooks: webhooks})

	// The scheduler's enqueue, three nights running.
	for range 3 {
		s.run("create --target data --storage nas", "nightly", jobs.StateFailed)
	}
	root, id := s.opened(`Backups of target \*data\*`)
	s.waitFor(`^\s+↳ \[msg-\d+ in `+root+`\] ❌`, 3)
	s.waitFor(`Failures: 3`, 1)
	if n := s.count(`🔴 OPEN`); n < 3 { // posted once, edited twice
		t.Errorf("root drawn %d times, want the post and an edit per repeat", n)
	}
	if n := s.count(`^\[msg-\d+\] 🔴 OPEN`); n != 1 {
		t.Errorf("%d top-level incident messages, want 1", n)
	}
	if n := s.count(`^\[edit ` + root + `\] 🔴 OPEN`); n != 2 {
		t.Errorf("root edited %d times for the repeats, want 2", n)
	}

	// dave holds only the viewer role, which may not run the backup: refused.
	s.click("dave", "click "+bot.ActionIncidentAck+" "+id)
	s.waitFor(`⛔ .*you may not act on incident `+"`"+id, 1)
	if n := s.count(`ACKNOWLEDGED`); n != 0 {
		t.Fatalf("a viewer's Acknowledge changed the incident")
	}
	s.click("alice", "click "+bot.ActionIncidentAck+" "+id)
	s.waitFor(`^\[edit `+root+`\] 🟠 ACKNOWLEDGED by .*alice`, 1)
	s.waitFor(`^\s+↳ \[msg-\d+ in `+root+`\] 👀 Acknowledged by .*alice`, 1)

	// The storage comes back; the next scheduled run succeeds.
	if err := os.MkdirAll(filepath.Join(dir, "nas"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg.Store(mkcfg(filepath.Join(dir, "nas")))
	// Retry now, by someone the policy lets run the backup: the run
	// succeeds and resolves the incident.
	s.click("alice", "click "+bot.ActionIncidentRetry+" "+id)
	s.waitFor(`^\s+↳ \[msg-\d+ in `+root+`\] 🔁 .*alice.* retried it now as job`, 1)
	s.waitFor(`^\s+↳ \[msg-\d+ in `+root+`\] ✅ Resolved`, 1)
	s.waitFor(`^\[edit `+root+`\] 🟢 RESOLVED`, 1)
	if n := s.count(`^\[msg-\d+\] 🔴 OPEN`); n != 1 {
		t.Errorf("%d top-level incident messages after the resolve, want 1", n)
	}

	// The webhook got every change, signed, the first one after a retry.
	deadline := time.Now().Add(5 * time.Second)
	want := "opened repeated repeated acknowledged resolved"
	for {
		hookMu.Lock()
		got := strings.Join(hookEvents, " ")
		hookMu.Unlock()
		if got == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook events %q, want %q", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Both clicks are in the audit log.
	s.audited(bot.AuditIncidentRefused, bot.AuditIncidentAcknowledged, bot.AuditIncidentRetried)
}

// TestMissedScheduleIncident is issue 14's second point: with every worker
// (and so the scheduler) stopped past a schedule's due time plus the grace,
// one incident opens (and stays one, however often the check runs), is
// escalated once when nobody acknowledges it; once workers are back and
// the schedule has a good run, it resolves by itself.
func TestMissedScheduleIncident(t *testing.T) {
	rdb := redisClient(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "a.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := &config.File{
		Storages: map[string]storage.Spec{"local": {Type: "local", Path: filepath.Join(dir, "repo")}},
		Targets:  map[string]config.Target{"data": {Paths: []string{data}}},
	}
	pol, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	holder := policy.NewHolder(pol)
	client := jobs.NewClient(nil, rdb, jobs.ClientOptions{})
	t.Cleanup(func() { client.Close() })
	router := bot.NewRouter(bot.RouterOptions{Parser: cfg.Parser(), Jobs: client, Redis: rdb, Policy: holder, EditInterval: 100 * time.Millisecond})
	out := &transcript{}
	router.Register(bot.Console, console.New(console.Options{User: bot.Identity{UserID: "alice"}, Out: out}))
	alerter := bot.NewAlerter(router, bot.AlerterOptions{
		Incidents:     alerts.NewIncidents(rdb, func() commands.Parser { return cfg.Parser() }),
		Channels:      map[bot.Platform]string{bot.Console: "oncall"},
		ScheduleGrace: time.Second, CheckInterval: 50 * time.Millisecond,
		EscalateAfter: 300 * time.Millisecond, EscalateMentions: []string{"@leads"},
		EscalationChannels: map[bot.Platform]string{bot.Console: "leads"},
	})

	// A schedule every 2 s, made 10 s ago, that never ran: no worker is up.
	alice := policy.Identity{Platform: "console", UserID: "alice"}
	entry := jobs.ScheduleEntry{Name: "often", Cron: "@every 2s", Type: commands.BackupType("full"), Target: "data",
		Storage: commands.StorageRef{Name: "local"}, Owner: alice, Channel: "console",
		CreatedAt: time.Now().Add(-10 * time.Second), Next: time.Now().Add(-8 * time.Second)}
	b, err := json.Marshal(entry)
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.HSet(context.Background(), "backupbot:schedules", "often", b).Err(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = router.Run(ctx) })
	wg.Go(func() { _ = alerter.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if t.Failed() {
			t.Logf("console transcript:\n%s", strings.Join(out.lines(), "\n"))
		}
	})
	o := oncall{t: t, out: out}
	count := o.count
	waitFor := func(re string) { t.Helper(); o.waitFor(re, 1) }
	waitFor(`^\[msg-\d+\] 🔴 OPEN \[critical\] Schedule \*often\*`)
	waitFor(`⏰ schedule often \(@every 2s\) was due at .* no successful run`)
	// Nobody acknowledges it: it is escalated, once, in its thread and to
	// the second channel.
	waitFor(`↳ \[msg-\d+ in msg-\d+\] ⏫ Unacknowledged for 300ms: escalating. @leads`)
	waitFor(`^\[msg-\d+\] ⏫ Escalated, unacknowledged for 300ms: 🔴 OPEN`)
	time.Sleep(300 * time.Millisecond) // several more checks
	if n := count(`^\[msg-\d+\] 🔴 OPEN`); n != 1 {
		t.Fatalf("%d incident messages for one missed schedule, want 1", n)
	}
	if n := count(`⏫`); n != 2 {
		t.Fatalf("%d escalation lines, want 2 (thread and second channel, once)", n)
	}

	// Workers (and with them the scheduler) come back.
	rec := alerts.NewRecorder(rdb, func() *config.File { return cfg }, nil)
	w := jobs.NewWorker(nil, rdb, jobs.Deps{
		Config:   func() *config.File { return cfg },
		Password: func(storage.Spec) (string, error) { return "test repository password", nil },
		Policy:   func() jobs.Rechecker { return holder.Policy() },
		Audit:    rec.Record,
	}, jobs.WorkerOptions{Concurrency: 1})
	wg.Go(func() { _ = w.Run(ctx) })
	sched := jobs.NewScheduler(client, rdb, jobs.SchedulerOptions{Tick: 100 * time.Millisecond})
	wg.Go(func() { _ = sched.Run(ctx) })

	waitFor(`↳ \[msg-\d+ in msg-\d+\] ✅ Resolved: scheduled job`)
	waitFor(`^\[edit msg-\d+\] 🟢 RESOLVED`)
	time.Sleep(500 * time.Millisecond)
	if n := count(`^\[msg-\d+\] 🔴 OPEN`); n != 1 {
		t.Errorf("%d incident messages, want 1 (it must not reopen while the schedule runs)", n)
	}
}

// TestStorageDownIncident: a storage whose readiness probe fails opens one
// incident (however often it is probed), resolved when it answers again.
func TestStorageDownIncident(t *testing.T) {
	rdb := redisClient(t)
	dir := t.TempDir()
	mount := filepath.Join(dir, "mnt")
	if err := os.WriteFile(mount, []byte("not mounted"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := storage.Spec{Type: "local", Path: filepath.Join(mount, "repo")}
	probe := func(ctx context.Context) error {
		b, err := storage.Open(ctx, spec)
		if err != nil {
			return err
		}
		return b.Close()
	}
	cfg := &config.File{Storages: map[string]storage.Spec{"nas": spec}, Targets: map[string]config.Target{"data": {Paths: []string{dir}}}}
	pol, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	client := jobs.NewClient(nil, rdb, jobs.ClientOptions{})
	t.Cleanup(func() { client.Close() })
	router := bot.NewRouter(bot.RouterOptions{Parser: cfg.Parser(), Jobs: client, Redis: rdb, Policy: policy.NewHolder(pol)})
	out := &transcript{}
	router.Register(bot.Console, console.New(console.Options{User: bot.Identity{UserID: "alice"}, Out: out}))
	alerter := bot.NewAlerter(router, bot.AlerterOptions{
		Incidents: alerts.NewIncidents(rdb, func() commands.Parser { return cfg.Parser() }),
		Channels:  map[bot.Platform]string{bot.Console: "oncall"}, CheckInterval: 50 * time.Millisecond,
		Storages: []bot.StorageProbe{{Name: "nas", Probe: probe}},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = alerter.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("console transcript:\n%s", strings.Join(out.lines(), "\n"))
		}
	})
	o := oncall{t: t, out: out}
	count := o.count
	waitFor := func(re string) { t.Helper(); o.waitFor(re, 1) }
	waitFor(`^\[msg-\d+\] 🔴 OPEN \[critical\] Storage \*nas\* failing`)
	waitFor(`↳ \[msg-\d+ in msg-\d+\] 🔌 Storage nas does not answer: .*not a directory`)
	time.Sleep(300 * time.Millisecond)
	if n := count(`^\[msg-\d+\] 🔴 OPEN`); n != 1 {
		t.Fatalf("%d incidents for one storage down, want 1", n)
	}
	// The volume is mounted again.
	if err := os.Remove(mount); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(mount, "repo"), 0o755); err != nil {
		t.Fatal(err)
	}
	waitFor(`✅ Resolved: storage nas answers again`)
	waitFor(`^\[edit msg-\d+\] 🟢 RESOLVED`)
}
