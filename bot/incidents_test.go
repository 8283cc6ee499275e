package bot_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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
	"github.com/backupbot/backupbot/storage/engine"
	"github.com/backupbot/backupbot/storage/pack"
	"github.com/backupbot/backupbot/storage/repo"
)

// incidentStack is the on-call path in one process on a real Redis: the
// router with alice's console, the Alerter posting to channel "oncall", a
// worker (recording metrics) on the config cfg holds, an audit log.
type incidentStack struct {
	watch
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
	holder := testHolder(t)
	s := &incidentStack{watch: watch{t: t, out: &transcript{}}, rdb: rdb, cfg: cfg, auditPath: filepath.Join(t.TempDir(), "audit.jsonl")}
	s.auditLog = openAudit(t, rdb, audit.Options{File: s.auditPath})
	s.client = newJobClient(t, rdb, nil)
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

	bg := runServices(t, s.out)
	s.ctx = bg.ctx
	bg.run(router.Run)
	bg.run(alerter.Run)
	if o.Webhooks != nil {
		bg.run(o.Webhooks.Run)
	}
	d := workerDeps(nil, holder)
	d.Config = cfg.Load // the configuration the test swaps
	d.Audit = alerts.NewRecorder(rdb, cfg.Load, nil).Record
	bg.run(jobs.NewWorker(nil, rdb, d, jobs.WorkerOptions{Concurrency: 1, RetryDelay: func(int) time.Duration { return 0 }}).Run)
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
	data := writeData(t, dir, map[string]string{"a.txt": "hello\n"})
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
	cfg := localConfig(dir, writeData(t, dir, map[string]string{"a.txt": "hello\n"}))
	holder := testHolder(t)
	client := newJobClient(t, rdb, nil)
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

	bg := runServices(t, out)
	bg.run(router.Run)
	bg.run(alerter.Run)
	o := watch{t: t, out: out}
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
	d := workerDeps(cfg, holder)
	d.Audit = alerts.NewRecorder(rdb, d.Config, nil).Record
	bg.run(jobs.NewWorker(nil, rdb, d, jobs.WorkerOptions{Concurrency: 1}).Run)
	bg.run(jobs.NewScheduler(client, rdb, jobs.SchedulerOptions{Tick: 100 * time.Millisecond}).Run)

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
	router := bot.NewRouter(bot.RouterOptions{Parser: cfg.Parser(), Jobs: newJobClient(t, rdb, nil), Redis: rdb, Policy: testHolder(t)})
	out := &transcript{}
	router.Register(bot.Console, console.New(console.Options{User: bot.Identity{UserID: "alice"}, Out: out}))
	alerter := bot.NewAlerter(router, bot.AlerterOptions{
		Incidents: alerts.NewIncidents(rdb, func() commands.Parser { return cfg.Parser() }),
		Channels:  map[bot.Platform]string{bot.Console: "oncall"}, CheckInterval: 50 * time.Millisecond,
		Storages: []bot.StorageProbe{{Name: "nas", Probe: probe}},
	})
	runServices(t, out).run(alerter.Run)
	o := watch{t: t, out: out}
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

// dataTarget makes a target directory with a file or two and a config with
// it and one local storage (spec tweaked by edit, when set).
func dataTarget(t *testing.T, edit func(*storage.Spec)) (*atomic.Pointer[config.File], string) {
	t.Helper()
	dir := t.TempDir()
	c := localConfig(dir, writeData(t, dir, map[string]string{"a.txt": "hello\n", "sub/b.txt": strings.Repeat("drill ", 5000)}))
	spec := c.Storages["local"]
	if edit != nil {
		edit(&spec)
		c.Storages["local"] = spec
	}
	var cfg atomic.Pointer[config.File]
	cfg.Store(c)
	return &cfg, spec.Path
}

// TestDrillIncidentThroughConsole is issue 15's third point through the
// console adapter, a real Redis and a real worker: a recovery drill of an
// intact repository passes and reports the measured RTO per GiB, opening
// nothing; once a data pack is damaged, the drill a `schedule --type
// restore-test` runs fails, naming the file, and opens one incident in the
// on-call channel.
func TestDrillIncidentThroughConsole(t *testing.T) {
	cfg, repoDir := dataTarget(t, nil)
	s := newIncidentStack(t, cfg, incidentOptions{})
	s.run("create --target data --storage local", "", jobs.StateSucceeded)
	id := s.run("verify --restore-test --all --storage local", "", jobs.StateSucceeded)
	st, err := s.client.Status(s.ctx, id)
	if err != nil || st.Result == nil || !strings.Contains(st.Result.Summary, "passed") || !strings.Contains(st.Result.Summary, "s/GiB") {
		t.Fatalf("drill of an intact repository: %+v, %v; want it passed with the measured RTO", st, err)
	}
	if n := s.count(`OPEN`); n != 0 {
		t.Fatalf("a drill that passed opened an incident")
	}

	// One file's data loses a byte in its pack.
	damageDataBlob(t, repoDir)
	// The drill is scheduled; the scheduler runs it.
	s.run(`schedule --action create --name drill --cron "@every 1m" --type restore-test --storage local`, "", jobs.StateSucceeded)
	// Its first run is due: the scheduler's clock is two minutes ahead.
	sched := jobs.NewScheduler(s.client, s.rdb, jobs.SchedulerOptions{Tick: 100 * time.Millisecond, Now: func() time.Time { return time.Now().Add(2 * time.Minute) }})
	runServices(t, nil).run(sched.Run)

	root, _ := s.opened(`Recovery drill of storage \*local\*`)
	s.waitFor(`^\s+↳ \[msg-\d+ in `+root+`\] ❌ Job .* failed: recovery drill of storage local FAILED: .*file .*/data/(a|sub/b)\.txt`, 1)
	s.waitFor(`Schedule: drill`, 1)
	if n := s.count(`^\[msg-\d+\] 🔴 OPEN`); n != 1 {
		t.Errorf("%d incident messages for one failing drill, want 1", n)
	}
}

// TestSizeLimitIncident is issue 14's size-limit incident: a backup that
// leaves the repository over its storage's size_limit opens an incident
// saying how big it is and what the limit is; a later backup that finds
// it within the (raised) limit resolves it.
func TestSizeLimitIncident(t *testing.T) {
	cfg, _ := dataTarget(t, func(s *storage.Spec) { s.SizeLimit = "1KiB" })
	s := newIncidentStack(t, cfg, incidentOptions{})
	s.run("create --target data --storage local", "", jobs.StateSucceeded)
	root, _ := s.opened(`Repository size of storage \*local\*`)
	s.waitFor(`^\s+↳ \[msg-\d+ in `+root+`\] 📦 repository on local is [0-9.]+ kB, over its 1KiB limit`, 1)
	// Over the limit again: still one incident.
	s.run("create --target data --storage local", "", jobs.StateSucceeded)

	c := *cfg.Load()
	c.Storages = map[string]storage.Spec{"local": c.Storages["local"]}
	spec := c.Storages["local"]
	spec.SizeLimit = "1GiB"
	c.Storages["local"] = spec
	cfg.Store(&c)
	s.run("create --target data --storage local", "", jobs.StateSucceeded)
	s.waitFor(`^\s+↳ \[msg-\d+ in `+root+`\] ✅ Resolved: after job .* the repository on local is [0-9.]+ kB, within its 1GiB limit`, 1)
	s.waitFor(`^\[edit `+root+`\] 🟢 RESOLVED`, 1)
	if n := s.count(`^\[msg-\d+\] 🔴 OPEN`); n != 1 {
		t.Errorf("%d size incidents, want 1", n)
	}
}

// TestSilenceIncident: pressing "Silence for N hours" is refused to
// someone without the role (and audited); by someone with it, it is
// audited and keeps repeats out of the thread for N hours of the
// (simulated) clock; after that a new failure posts again.
func TestSilenceIncident(t *testing.T) {
	cfg, _ := dataTarget(t, func(s *storage.Spec) { s.Path = filepath.Join(os.DevNull, "repo") }) // unreachable
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	s := newIncidentStack(t, cfg, incidentOptions{Now: clock})

	s.run("create --target data --storage local", "nightly", jobs.StateFailed)
	root, id := s.opened(`Backups of target \*data\*`)
	repeats := `^\s+↳ \[msg-\d+ in ` + root + `\] ❌ Failed again`

	s.click("dave", "click "+bot.ActionIncidentSilence+" "+id+":4")
	s.waitFor(`⛔ .*you may not act on incident `+"`"+id, 1)
	s.click("alice", "click "+bot.ActionIncidentSilence+" "+id+":4")
	s.waitFor(`^\s+↳ \[msg-\d+ in `+root+`\] 🔕 Silenced for 4 h by .*alice`, 1)
	s.waitFor(`^\s+Silenced: until .* by .*alice`, 1)

	// Two hours later it fails again: counted, not posted.
	now.Add(int64(2 * time.Hour))
	s.run("create --target data --storage local", "nightly", jobs.StateFailed)
	deadline := time.Now().Add(10 * time.Second)
	for {
		inc, err := s.incidents.Get(s.ctx, id)
		if err == nil && inc.Failures == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the repeat was not counted: %+v, %v", inc, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if n := s.count(repeats); n != 0 {
		t.Fatalf("a silenced incident posted %d repeats", n)
	}

	// Past the four hours, the next failure posts again.
	now.Add(int64(2*time.Hour + time.Minute))
	s.run("create --target data --storage local", "nightly", jobs.StateFailed)
	s.waitFor(repeats+` \(3 times\)`, 1)
	s.audited(bot.AuditIncidentRefused, bot.AuditIncidentSilenced)
}

// damageDataBlob flips a byte in the middle of one file-data blob of the
// local repository at path (its pack's other blobs, trees too, stay
// intact).
func damageDataBlob(t *testing.T, path string) {
	t.Helper()
	var loc *repo.Location
	withRepo(t, storage.Spec{Type: storage.KindLocal, Path: path}, func(_ context.Context, e *engine.Engine) {
		e.Repository().Index.Each(func(l repo.Location) {
			if loc == nil && l.Type == pack.DataBlob {
				loc = &l
			}
		})
	})
	if loc == nil {
		t.Fatal("no file data in the repository")
	}
	file := filepath.Join(path, filepath.FromSlash(repo.PackKey(loc.Pack)))
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	data[int(loc.Offset)+int(loc.Length)/2] ^= 0xff
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
