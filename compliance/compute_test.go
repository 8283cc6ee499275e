package compliance

import (
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/storage/retention"
)

var now = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) time.Time { return now.Add(-d) }

func backup(target, result string, end time.Time) Job {
	return Job{ID: target + end.Format("0102150405"), Action: "create", Result: result, Targets: []string{target}, Storage: "local", End: end}
}

func input() Input {
	cfg := &config.File{Targets: map[string]config.Target{
		"web":  {Paths: []string{"/srv/web"}, Retention: &retention.Policy{Last: 2}},
		"db":   {Paths: []string{"/srv/db"}},
		"logs": {Paths: []string{"/var/log"}},
		"tmp":  {Paths: []string{"/tmp"}},
	}}
	return Input{
		Now: now, Config: cfg, Grace: 30 * time.Minute, SchedulesKnown: true,
		Schedules: []Schedule{
			{Name: "daily", Cron: "0 2 * * *", Targets: []string{"web", "db"}},
			{Name: "verify", Cron: "@hourly", Kind: "verify", Targets: []string{"logs"}},
		},
		Jobs: []Job{
			backup("web", "succeeded", ago(10*time.Hour)),
			backup("web", "failed", ago(34*time.Hour)),
			backup("web", "succeeded", ago(20*24*time.Hour)),
			backup("db", "succeeded", ago(30*time.Hour)), // a daily schedule allows 24h30m
			backup("db", "failed", ago(6*time.Hour)),
			backup("logs", "succeeded", ago(2*time.Hour)), // no backup schedule
		},
		Snapshots: []Snap{
			{Storage: "local", ID: "w1", Target: "web", Time: ago(10 * time.Hour)},
			{Storage: "local", ID: "w2", Target: "web", Time: ago(58 * time.Hour)},
			{Storage: "local", ID: "w3", Target: "web", Time: ago(20 * 24 * time.Hour)},
			{Storage: "local", ID: "d1", Target: "db", Time: ago(30 * time.Hour), ExpiresAt: ago(time.Hour)},
		},
		ThreeTwoOne: func(target string) string {
			if target == "web" {
				return "3 copies, 2 media, 1 offsite"
			}
			return ""
		},
	}
}

func byName(r Report) map[string]Target {
	out := map[string]Target{}
	for _, t := range r.Targets {
		out[t.Name] = t
	}
	return out
}

// Each target's figures follow from its schedule and its history.
func TestComputeTargets(t *testing.T) {
	ts := byName(Compute(input()))
	web, db, logs, tmp := ts["web"], ts["db"], ts["logs"], ts["tmp"]

	if web.Stale || web.Coverage != Covered || web.Period != 24*time.Hour || web.Age != 10*time.Hour {
		t.Errorf("web: stale %v, coverage %q, period %v, age %v; want fresh, ok, 24h, 10h", web.Stale, web.Coverage, web.Period, web.Age)
	}
	if web.Rate7 != (Rate{OK: 1, Failed: 1}) || web.Rate30 != (Rate{OK: 2, Failed: 1}) || web.Rate7.String() != "50% (1/2)" {
		t.Errorf("web rates 7d %v, 30d %v", web.Rate7, web.Rate30)
	}
	// web's policy keeps the last 2: the third snapshot is past retention.
	if web.RetentionOK || web.PastRetention != 1 || !strings.Contains(web.Retention, "1 snapshot past retention") {
		t.Errorf("web retention %q (%d), want 1 snapshot past retention", web.Retention, web.PastRetention)
	}
	// Its longest stretch without a good backup in 30 days: 20 days back to 58 hours back.
	if want := 20*24*time.Hour - 58*time.Hour; web.WorstGap != want || web.RPOMet {
		t.Errorf("web worst gap %v (met %v), want %v and not met", web.WorstGap, web.RPOMet, want)
	}
	if web.ThreeTwoOne != "3 copies, 2 media, 1 offsite" || db.ThreeTwoOne != "—" {
		t.Errorf("3-2-1: web %q, db %q", web.ThreeTwoOne, db.ThreeTwoOne)
	}

	if !db.Stale || db.Coverage != NotRecent || db.Allowed != 24*time.Hour+30*time.Minute || db.Rate7.String() != "50% (1/2)" {
		t.Errorf("db: stale %v, coverage %q, allowed %v, rate %v; want stale past 24h30m", db.Stale, db.Coverage, db.Allowed, db.Rate7)
	}
	// db has no policy, but its snapshot's own --retention expired.
	if db.RetentionOK || db.PastRetention != 1 {
		t.Errorf("db retention %q, want its expired snapshot counted", db.Retention)
	}

	// A verify schedule is no backup schedule.
	if logs.Coverage != NoSchedule || logs.Stale || logs.Allowed != DefaultRecent || logs.Retention != "no policy" {
		t.Errorf("logs: coverage %q, stale %v, allowed %v, retention %q", logs.Coverage, logs.Stale, logs.Allowed, logs.Retention)
	}
	if tmp.Coverage != Never || !tmp.Stale || tmp.LastGoodText() != "never" || tmp.Rate30.String() != "—" {
		t.Errorf("tmp: %+v", tmp)
	}
}

// The Markdown names the gaps; the CSV has one row per target.
func TestReportRenderings(t *testing.T) {
	r := Compute(input())
	if got, want := r.Summary(), "Compliance: 1 of 4 targets covered, 1 within their RPO, 2 within retention"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	md := r.Markdown()
	for _, want := range []string{"- `db`: no recent backup", "- `logs`: no schedule", "- `tmp`: never backed up",
		"- `web`: 1 snapshot past retention still present", "| web | 2026-12-04 02:00 UTC (10h ago) | ok | 50% (1/2) | 67% (2/3) |"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	lines := strings.Split(strings.TrimSpace(string(r.CSV())), "\n")
	if len(lines) != 5 || lines[0] != strings.Join(CSVHeader, ",") {
		t.Fatalf("CSV:\n%s", r.CSV())
	}
	if !strings.HasPrefix(lines[1], "db,daily,86400,2026-12-03T06:00:00Z,local,108000,true,no recent backup,50.0,2,50.0,2,") {
		t.Errorf("db row %q", lines[1])
	}
}
