package alerts_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/backupbot/backupbot/alerts"
	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/httpapi"
	"github.com/backupbot/backupbot/jobs"
)

// chromium finds the browser: $BACKUPBOT_TEST_CHROMIUM, else Debian's
// chromium.
func chromium(t *testing.T) string {
	t.Helper()
	return testProgram(t, "BACKUPBOT_TEST_CHROMIUM", "scripts/test.sh installs Debian's chromium package", "chromium", "chromium-browser")
}

// browser starts a headless Chromium with a fresh profile.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // starts the browser (with no timeout: it lives as long as ctx)
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelTimeout)
	return ctx
}

// run runs one browser action and fails the test on error.
func run[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
	return v
}

// putSchedule stores a backup schedule the way `/backup schedule --action
// create` does (no scheduler runs in this test, so it never fires).
func putSchedule(t *testing.T, h *history, name, cron, target string) {
	t.Helper()
	b, err := json.Marshal(jobs.ScheduleEntry{Name: name, Cron: cron, Type: commands.TypeFull, Target: target,
		Storage: commands.StorageRef{Name: "local"}, Owner: alice, CreatedAt: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.rdb.HSet(context.Background(), "backupbot:schedules", name, b).Err(); err != nil {
		t.Fatal(err)
	}
}

// TestDashboardInBrowser runs a scripted history through a real worker on
// the test Redis, then loads the dashboard in headless Chromium and checks
// what a person sees: the stale target in red with the word "stale", the
// storage growth chart with one point per backup, the failed job and the
// open incident listed, the verify result; and that without the token the
// page answers 401. It saves a screenshot.
func TestDashboardInBrowser(t *testing.T) {
	h := newHistory(t)
	h.cfg.Alerts.ScheduleGrace = time.Second
	// web is backed up hourly; db every 2 s, so a few seconds after its
	// last good backup db is past what its schedule allows.
	putSchedule(t, h, "hourly-web", "@every 1h", "web")
	putSchedule(t, h, "fast-db", "@every 2s", "db")
	h.startWorker()

	h.run("create --target db --storage local", "fast-db", jobs.EventSucceeded)
	h.run("create --target web --storage local", "hourly-web", jobs.EventSucceeded)
	failed := h.run("create --target db --storage gone", "fast-db", jobs.EventFailed)
	h.run("verify --all --storage local", "", jobs.EventSucceeded)
	time.Sleep(3500 * time.Millisecond) // db's last good backup ages past 2 s + 1 s grace
	h.run("create --target web --storage local", "hourly-web", jobs.EventSucceeded)
	const backupsOnLocal = 3

	// The bot's alerter opens the incident from the failed job's event.
	incidents := alerts.NewIncidents(h.rdb, func() commands.Parser { return h.cfg.Parser() })
	inc, change, err := incidents.Observe(context.Background(), failed)
	if err != nil || change != alerts.Opened {
		t.Fatalf("incident for the failed backup: %v %v", change, err)
	}

	const token = "dashboard-token-for-the-browser-test"
	src := alerts.DashboardSource{Redis: h.rdb, Config: func() *config.File { return h.cfg }, Incidents: incidents}
	srv := httptest.NewServer(httpapi.New(httpapi.Options{Token: func() string { return token }, Dashboard: src.Load}).Handler())
	defer srv.Close()

	// Without the token: 401, and nothing of the dashboard.
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET / without a token = %d, want 401", resp.StatusCode)
	}

	ctx := browser(t)
	run(t, ctx, "open / without a token", chromedp.Navigate(srv.URL+"/"))
	anonymous := run(t, ctx, "read the page", chromedp.Text(chromedp.CSS("body")))
	if !strings.Contains(anonymous, "401 unauthorized") || strings.Contains(anonymous, failed.Meta.JobID) {
		t.Errorf("the browser without a token sees %q, want the 401 message only", anonymous)
	}

	// Logging in with ?token= sets a cookie: the plain URL then works.
	run(t, ctx, "log in with ?token=", chromedp.Navigate(srv.URL+"/?token="+token))
	run(t, ctx, "open / with the cookie", chromedp.Navigate(srv.URL+"/"))
	run(t, ctx, "wait for the targets", chromedp.WaitVisible(chromedp.CSS("#targets")))
	color := func(target string) string {
		return run(t, ctx, "colour of "+target, chromedp.Evaluate[string](
			`getComputedStyle(document.querySelector('tr[data-target="`+target+`"] td.age')).color`))
	}
	dbColor, webColor := color("db"), color("web")
	dbAge := run(t, ctx, "db's age", chromedp.Text(chromedp.CSS(`tr[data-target="db"] td.age`)))
	webAge := run(t, ctx, "web's age", chromedp.Text(chromedp.CSS(`tr[data-target="web"] td.age`)))
	points := run(t, ctx, "chart points", chromedp.Evaluate[int](`Number(document.querySelector('svg.growth[data-storage="local"]').dataset.points)`))
	circles := run(t, ctx, "chart circles", chromedp.Evaluate[int](`document.querySelectorAll('svg.growth[data-storage="local"] circle').length`))
	jobsText := run(t, ctx, "recent jobs", chromedp.Text(chromedp.CSS("#jobs")))
	incidentsText := run(t, ctx, "open incidents", chromedp.Text(chromedp.CSS("#incidents")))
	verify := run(t, ctx, "verify results", chromedp.Text(chromedp.CSS("#verifies")))
	png := run(t, ctx, "screenshot", chromedp.FullScreenshot(100))
	dir := os.Getenv("BACKUPBOT_TEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	shot := filepath.Join(dir, "dashboard.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("dashboard screenshot: %s", shot)

	const red = "rgb(176, 0, 32)"
	if dbColor != red || !strings.Contains(strings.ToLower(dbAge), "stale") {
		t.Errorf("db (last good backup older than its 2 s schedule allows): age cell %q in %s, want red (%s) saying stale", dbAge, dbColor, red)
	}
	if webColor == red || strings.Contains(strings.ToLower(webAge), "stale") {
		t.Errorf("web (backed up just now, hourly schedule): age cell %q in %s, want not red and not stale", webAge, webColor)
	}
	if points != backupsOnLocal || circles != backupsOnLocal {
		t.Errorf("growth chart of local: data-points %d, %d circles; want %d (one per backup)", points, circles, backupsOnLocal)
	}
	if !strings.Contains(jobsText, failed.Meta.JobID) || !strings.Contains(jobsText, "failed") {
		t.Errorf("recent jobs do not list the failed job %s:\n%s", failed.Meta.JobID, jobsText)
	}
	if !strings.Contains(incidentsText, inc.ID) || !strings.Contains(incidentsText, "backup db") {
		t.Errorf("open incidents do not list %s (backup db):\n%s", inc.ID, incidentsText)
	}
	if !strings.Contains(verify, "passed") || !strings.Contains(verify, "local") {
		t.Errorf("verify results do not show the passed verify of local:\n%s", verify)
	}
	fmt.Fprintln(os.Stderr, "dashboard screenshot:", shot)
}
