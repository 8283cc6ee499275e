package alerts_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/alerts"
	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/httpapi"
	"github.com/backupbot/backupbot/internal/runtest"
	"github.com/backupbot/backupbot/internal/testredis"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/storage"
)

var alice = policy.Identity{Platform: "console", UserID: "alice", UserName: "alice"}

// history runs jobs through a real worker on the test Redis and keeps
// their final events.
type history struct {
	t      *testing.T
	rdb    redis.UniversalClient
	cfg    *config.File
	client *jobs.Client

	mu     sync.Mutex
	finals map[string]jobs.Event
	notify chan struct{}
}

func newHistory(t *testing.T) *history {
	t.Helper()
	rdb := testredis.Flushed(t, testredis.DBAlerts)
	dir := t.TempDir()
	for _, d := range []string{"web", "db", "repo"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{"web/index.html": strings.Repeat("<p>hello</p>\n", 4000), "db/dump.sql": strings.Repeat("INSERT INTO t VALUES (1);\n", 3000)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// "gone" is a storage whose path lies under a regular file: every
	// job on it fails, as on a storage that stopped answering.
	if err := os.WriteFile(filepath.Join(dir, "blocker"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := &config.File{
		Storages: map[string]storage.Spec{
			"local": {Type: storage.KindLocal, Path: filepath.Join(dir, "repo")},
			"gone":  {Type: storage.KindLocal, Path: filepath.Join(dir, "blocker", "repo")},
		},
		Targets: map[string]config.Target{
			"web": {Paths: []string{filepath.Join(dir, "web")}},
			"db":  {Paths: []string{filepath.Join(dir, "db")}},
		},
	}
	h := &history{t: t, rdb: rdb, cfg: cfg, finals: map[string]jobs.Event{}, notify: make(chan struct{})}
	h.client = jobs.NewClient(nil, rdb, jobs.ClientOptions{Logger: quiet()})
	t.Cleanup(func() { h.client.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		_ = jobs.Subscribe(ctx, rdb, func(ev jobs.Event) {
			if !ev.Kind.Final() {
				return
			}
			h.mu.Lock()
			h.finals[ev.Meta.JobID] = ev
			close(h.notify)
			h.notify = make(chan struct{})
			h.mu.Unlock()
		})
	}()
	time.Sleep(50 * time.Millisecond) // let the subscriber start reading
	return h
}

// startWorker runs a worker whose Audit hook is the metrics Recorder.
func (h *history) startWorker() (stop func()) {
	rec := alerts.NewRecorder(h.rdb, func() *config.File { return h.cfg }, quiet())
	w := jobs.NewWorker(nil, h.rdb, jobs.Deps{
		Config:   func() *config.File { return h.cfg },
		Password: func(storage.Spec) (string, error) { return "test repository password", nil },
		Audit:    rec.Record,
		Logger:   quiet(),
	}, jobs.WorkerOptions{Concurrency: 1, RetryDelay: func(int) time.Duration { return 0 }})
	return runtest.Go(h.t, "worker", w.Run)
}

// enqueue parses text as a chat command would and enqueues it.
func (h *history) enqueue(text, schedule string) string {
	h.t.Helper()
	cmd, err := h.cfg.Parser().Parse(text)
	if err != nil {
		h.t.Fatalf("parse %q: %v", text, err)
	}
	meta, err := h.client.Enqueue(context.Background(), cmd, jobs.Meta{Requester: alice, Channel: "ops", Schedule: schedule})
	if err != nil {
		h.t.Fatalf("enqueue %q: %v", text, err)
	}
	return meta.JobID
}

// run enqueues text and waits for the job's final event.
func (h *history) run(text, schedule string, want jobs.EventKind) jobs.Event {
	h.t.Helper()
	id := h.enqueue(text, schedule)
	deadline := time.After(60 * time.Second)
	for {
		h.mu.Lock()
		ev, ok := h.finals[id]
		ch := h.notify
		h.mu.Unlock()
		if ok {
			if ev.Kind != want {
				h.t.Fatalf("%q ended %s (%s), want %s", text, ev.Kind, ev.Error, want)
			}
			return ev
		}
		select {
		case <-ch:
		case <-deadline:
			h.t.Fatalf("%q did not end within 60 s", text)
		}
	}
}

func quiet() *slog.Logger {
	if os.Getenv("BACKUPBOT_TEST_VERBOSE") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// scrape serves /metrics as the bot process does (its own collectors plus
// the alerts Collector on the same Redis) and returns the body.
func scrape(t *testing.T, rdb redis.UniversalClient) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(alerts.NewCollector(rdb, quiet()))
	bot.NewMetrics(reg)
	srv := httptest.NewServer(httpapi.New(httpapi.Options{Gatherer: reg}).Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

// series maps each sample line's name{labels} to its value.
func series(t *testing.T, body string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// testProgram is a program a test runs: $env, else the first of names
// on the PATH. The test fails, never skips, without one (`make test`
// installs it as installer says).
func testProgram(t *testing.T, env, installer string, names ...string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatalf("%s is not installed: run `make test` (%s) or set %s", names[0], installer, env)
	return ""
}

func promtool(t *testing.T) string {
	t.Helper()
	return testProgram(t, "BACKUPBOT_TEST_PROMTOOL", "scripts/services/promtool.sh installs Debian's prometheus package", "promtool")
}

// TestMetricsFromScriptedHistory runs backups and verifies through a real
// worker against a real Redis, then checks what /metrics says about them,
// that promtool accepts it, and that the shipped alert rules fire on a
// series file built from the scraped values.
func TestMetricsFromScriptedHistory(t *testing.T) {
	h := newHistory(t)
	stop := h.startWorker()

	web1 := h.run("create --target web --storage local", "", jobs.EventSucceeded)
	h.run("create --target db --storage gone", "nightly-db", jobs.EventFailed)
	h.run("verify --all --storage local", "", jobs.EventSucceeded)
	h.run("verify --all --storage gone", "", jobs.EventFailed)
	h.run("test --storage local", "", jobs.EventSucceeded)
	web2 := h.run("create --target web --storage local", "nightly", jobs.EventSucceeded)
	db := h.run("create --target db --storage local", "", jobs.EventSucceeded)
	// db failed, then succeeded: its status recovered.
	if got := series(t, scrape(t, h.rdb))[`backupbot_backup_last_status{target="db"}`]; got != 1 {
		t.Errorf("after db's failed then good backup, last_status = %v, want 1", got)
	}
	// It fails again: the last word on db is a failure the rules must see.
	failed2 := h.run("create --target db --storage gone", "nightly-db", jobs.EventFailed)
	stop()
	// With no worker left, a scheduled job waits in its queue.
	h.enqueue("create --target web --storage local", "nightly")
	time.Sleep(1100 * time.Millisecond)

	body := scrape(t, h.rdb)
	s := series(t, body)

	// promtool accepts the exposition.
	cmd := exec.Command(promtool(t), "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}

	readBytes := func(evs ...jobs.Event) float64 {
		var n float64
		for _, ev := range evs {
			var rs []struct {
				BytesRead  int64   `json:"bytes_read"`
				DedupRatio float64 `json:"dedup_ratio"`
			}
			if err := json.Unmarshal(ev.Result.Data, &rs); err != nil || len(rs) != 1 {
				t.Fatalf("backup result data %s: %v", ev.Result.Data, err)
			}
			n += float64(rs[0].BytesRead)
		}
		return n
	}
	unix := func(ev jobs.Event) float64 { return float64(ev.At.UnixNano()) / 1e9 }
	want := map[string]float64{
		`backupbot_backup_total{action="create",result="succeeded"}`:                                       3,
		`backupbot_backup_total{action="create",result="failed"}`:                                          2,
		`backupbot_backup_total{action="verify",result="succeeded"}`:                                       1,
		`backupbot_backup_total{action="verify",result="failed"}`:                                          1,
		`backupbot_backup_last_status{target="web"}`:                                                       1,
		`backupbot_backup_last_status{target="db"}`:                                                        0,
		`backupbot_backup_last_success_timestamp_seconds{schedule="",storage="local",target="web"}`:        unix(web1),
		`backupbot_backup_last_success_timestamp_seconds{schedule="nightly",storage="local",target="web"}`: unix(web2),
		`backupbot_backup_last_success_timestamp_seconds{schedule="",storage="local",target="db"}`:         unix(db),
		`backupbot_backup_last_failure_timestamp_seconds{storage="gone",target="db"}`:                      unix(failed2),
		`backupbot_backup_read_bytes_total{target="web"}`:                                                  readBytes(web1, web2),
		`backupbot_backup_read_bytes_total{target="db"}`:                                                   readBytes(db),
		`backupbot_verify_last_status{storage="local"}`:                                                    1,
		`backupbot_verify_last_status{storage="gone"}`:                                                     0,
		`backupbot_verify_last_problems{storage="local"}`:                                                  0,
		`backupbot_repository_snapshots{storage="local"}`:                                                  1,
		`backupbot_job_duration_seconds_count{action="create"}`:                                            5,
		`backupbot_job_duration_seconds_count{action="verify"}`:                                            2,
		`backupbot_job_duration_seconds_bucket{action="create",le="+Inf"}`:                                 5,
		`backupbot_queue_pending_jobs{queue="scheduled"}`:                                                  1,
		`backupbot_queue_pending_jobs{queue="default"}`:                                                    0,
		`backupbot_metrics_state_up`:                                                                       1,
		`backupbot_incidents_open`:                                                                         0,
	}
	for k, v := range want {
		got, ok := s[k]
		if !ok {
			t.Errorf("/metrics has no %s", k)
			continue
		}
		if math.Abs(got-v) > 1e-3 {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	if age := s[`backupbot_queue_oldest_pending_age_seconds{queue="scheduled"}`]; age < 1 || age > 30 {
		t.Errorf("oldest pending age of the scheduled queue = %v s, want about 1 s", age)
	}
	for _, m := range []string{"dedup", "compression"} {
		k := fmt.Sprintf(`backupbot_backup_last_%s_ratio{target="web"}`, m)
		if got, want := s[k], ratio(t, web2, m+"_ratio"); math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v (web's last backup result)", k, got, want)
		}
	}

	checkRules(t, s, unix(web1))
}

// checkRules writes a promtool unit test whose input series are the
// scraped values (times shifted so the history starts at 0 s) and runs the
// shipped rules on it.
func checkRules(t *testing.T, s map[string]float64, t0 float64) {
	t.Helper()
	rules, err := filepath.Abs("../deploy/prometheus/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool(t), "check", "rules", rules).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	var in strings.Builder
	const minutes = 30 * 60 // the series run 30 hours at one sample a minute
	for k, v := range s {
		name := k
		if i := strings.IndexByte(k, '{'); i >= 0 {
			name = k[:i]
		}
		switch {
		case strings.HasSuffix(name, "_timestamp_seconds"):
			v -= t0 // history time → test time
			fmt.Fprintf(&in, "      - series: '%s'\n        values: '%sx%d'\n", k, fmtNum(v), minutes)
		case name == "backupbot_queue_oldest_pending_age_seconds" && v > 0:
			// Nobody serves the queue: the job's age grows a minute a minute.
			fmt.Fprintf(&in, "      - series: '%s'\n        values: '%s+60x%d'\n", k, fmtNum(v), minutes)
		case name == "backupbot_backup_last_status" || name == "backupbot_verify_last_status" ||
			name == "backupbot_queue_oldest_pending_age_seconds" || name == "backupbot_metrics_state_up":
			fmt.Fprintf(&in, "      - series: '%s'\n        values: '%sx%d'\n", k, fmtNum(v), minutes)
		}
	}
	test := fmt.Sprintf(`rule_files:
  - %s
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
%s
    alert_rule_test:
      - eval_time: 10m
        alertname: BackupbotBackupFailed
        exp_alerts:
          - exp_labels: {severity: warning, target: db}
            exp_annotations:
              summary: "The last backup of db failed"
              description: "See the job's thread or /backup status for the reason; the alert clears when the next backup of db succeeds."
      - eval_time: 10m
        alertname: BackupbotVerifyFailed
        exp_alerts:
          - exp_labels: {severity: critical, storage: gone}
            exp_annotations:
              summary: "Verify of storage gone failed or found problems"
              description: "Read the verify report in its thread; restore from another storage if data is damaged, then run /backup verify --storage gone --fix."
      - eval_time: 25h
        alertname: BackupbotBackupStale
      - eval_time: 27h
        alertname: BackupbotBackupStale
        exp_alerts:
          - exp_labels: {severity: critical, target: web, storage: local}
            exp_annotations:
              summary: "No good backup of web on local for more than 26 hours"
              description: "Check the target's schedule (/backup schedule --list) and its last jobs (/backup status); run /backup create --target web --storage local once the cause is fixed."
          - exp_labels: {severity: critical, target: db, storage: local}
            exp_annotations:
              summary: "No good backup of db on local for more than 26 hours"
              description: "Check the target's schedule (/backup schedule --list) and its last jobs (/backup status); run /backup create --target db --storage local once the cause is fixed."
      - eval_time: 30m
        alertname: BackupbotQueueStuck
      - eval_time: 50m
        alertname: BackupbotQueueStuck
        exp_alerts:
          - exp_labels: {severity: critical, queue: scheduled}
            exp_annotations:
              summary: "Jobs in the scheduled queue have waited more than 30 minutes"
              description: "Check that backupbot workers run (/readyz, `+"`backupbot worker`"+` logs) and have enough concurrency."
      - eval_time: 1h
        alertname: BackupbotMetricsUnavailable
`, rules, in.String())
	path := filepath.Join(t.TempDir(), "rules_test.yaml")
	if err := os.WriteFile(path, []byte(test), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool(t), "test", "rules", path).CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules on the scripted history: %v\n%s\n--- test file:\n%s", err, out, test)
	}
}

// ratio reads one ratio field of a single-target backup result.
func ratio(t *testing.T, ev jobs.Event, name string) float64 {
	t.Helper()
	var rs []map[string]any
	if err := json.Unmarshal(ev.Result.Data, &rs); err != nil || len(rs) != 1 {
		t.Fatalf("backup result data %s: %v", ev.Result.Data, err)
	}
	f, _ := rs[0][name].(float64)
	return f
}

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
