package config

import (
	"testing"
	"time"

	"github.com/backupbot/backupbot/storage/retention"
)

const retentionConfig = `
storages:
  local: {type: local, path: ./var/repo}
targets:
  data: {paths: [/srv/data]}
  db:
    paths: [/srv/db]
    retention:
      daily: {count: 30}
      keep_min: 5
retention:
  daily:   {count: 7,  type: incremental}
  weekly:  {count: 4,  type: differential}
  monthly: {count: 12, type: full}
  yearly:  {count: 7,  type: full}
  within: 2w
  keep_min: 3
  time_zone: Europe/Berlin
  schedule: "30 4 * * *"
  channel: "#backups"
  prune_grace: 36h
  max_unused: 10%
  max_repack_size: 2GiB
  schedules:
    hourly: {hourly: {count: 24}, last: 2}
`

func TestRetentionBlockLoads(t *testing.T) {
	f, err := Load(writeConfig(t, retentionConfig))
	if err != nil {
		t.Fatal(err)
	}
	r := f.Retention
	if r.Daily != (retention.Rule{Count: 7, Type: "incremental"}) || r.Yearly != (retention.Rule{Count: 7, Type: "full"}) ||
		r.KeepMin != 3 || r.Within != (retention.Within{Days: 14}) || r.Cron() != "30 4 * * *" || r.Channel != "#backups" || r.Grace() != 36*time.Hour {
		t.Fatalf("retention block = %+v", r)
	}
	if mu, ms := r.Repack(); mu != 0.1 || ms != 2<<30 {
		t.Errorf("repack settings %v %v", mu, ms)
	}
	if mu, _ := (Retention{MaxUnused: "off"}).Repack(); mu != -1 {
		t.Errorf("max_unused: off = %v", mu)
	}
	group, p := f.RetentionFor("data", "")
	if group != "data" || p.Weekly.Type != "differential" || p.Location.String() != "Europe/Berlin" {
		t.Errorf("data: group %q policy %+v", group, p)
	}
	if _, p := f.RetentionFor("db", ""); p.Daily.Count != 30 || p.KeepMin != 5 || p.Weekly.Count != 0 {
		t.Errorf("db's own policy not used: %+v", p)
	}
	if g, p := f.RetentionFor("db", "hourly"); p.Hourly.Count != 24 || p.Last != 2 || g == "db" {
		t.Errorf("the schedule's policy not used: %q %+v", g, p)
	}
	if d := Defaults(); d.Retention.Cron() != DefaultRetentionSchedule || !d.Retention.Policy.Empty() {
		t.Errorf("defaults: %+v", d.Retention)
	}
	if (Retention{Schedule: "off"}).Cron() != "" {
		t.Error("schedule: off does not turn the job off")
	}
}

func TestRetentionErrorsNameTheLine(t *testing.T) {
	base := "storages:\n  local: {type: local, path: /r}\ntargets:\n  data: {paths: [/d]}\n"
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"bad type", base + "retention:\n  weekly:\n    count: 4\n    type: fulll\n", []string{"line 8", "retention.weekly.type", `"fulll" is not a backup type`}},
		{"negative count", base + "retention:\n  daily: {count: -1}\n", []string{"line 6", "retention.daily.count", "0 or more"}},
		{"bad within", base + "retention:\n  within: 3x\n", []string{"line 6", "within"}},
		{"bad zone", base + "retention:\n  time_zone: Mars/Olympus\n", []string{"line 6", "retention.time_zone", "not a time zone"}},
		{"bad grace", base + "retention:\n  prune_grace: 1d\n", []string{"line 6", "retention.prune_grace", "positive duration"}},
		{"bad max_unused", base + "retention:\n  max_unused: 5\n", []string{"line 6", "retention.max_unused", "percentage"}},
		{"bad max_repack_size", base + "retention:\n  max_repack_size: lots\n", []string{"line 6", "retention.max_repack_size", "not a size"}},
		{"bad cron", base + "retention:\n  schedule: \"every day\"\n", []string{"line 6", "retention.schedule", "off"}},
		{"unknown key", base + "retention:\n  dialy: {count: 3}\n", []string{"line 6", `unknown key "retention.dialy"`}},
		{"target policy", "storages:\n  local: {type: local, path: /r}\ntargets:\n  data:\n    paths: [/d]\n    retention:\n      monthly: {count: 2, type: weekly}\n", []string{"line 7", "targets.data.retention.monthly.type"}},
		{"schedule policy", base + "retention:\n  schedules:\n    nightly:\n      keep_min: -2\n", []string{"line 8", "retention.schedules.nightly.keep_min"}},
	} {
		t.Run(tc.name, func(t *testing.T) { loadRefuses(t, tc.body, tc.want...) })
	}
}
