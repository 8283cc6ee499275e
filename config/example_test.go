package config

import (
	"slices"
	"testing"
	"time"
)

// The example configuration shipped in deploy/ must load: it is what
// operators copy, and every key in it must still exist.
func TestExampleConfigLoads(t *testing.T) {
	f, err := Load("../deploy/config.example.yaml")
	if err != nil {
		t.Fatalf("deploy/config.example.yaml does not load: %v", err)
	}
	for _, name := range []string{"local", "nas", "offsite", "azure"} {
		if _, ok := f.Storages[name]; !ok {
			t.Errorf("storage %q missing from the example", name)
		}
	}
	if got := f.Storages["offsite"].Bucket; got != "backups" {
		t.Errorf("offsite bucket = %q, want backups", got)
	}
	if !slices.Contains(f.Targets["config"].Exclude, "*.tmp") {
		t.Errorf("config target excludes = %v, want *.tmp among them", f.Targets["config"].Exclude)
	}
	if f.Databases["orders"].PasswordEnv != "ORDERS_DB_PASSWORD" {
		t.Errorf("database password_env not loaded: %+v", f.Databases["orders"])
	}
	if len(f.Policy.Roles["restorer"]) != 2 {
		t.Errorf("restorer rules = %d, want 2", len(f.Policy.Roles["restorer"]))
	}
}

// The example's alerts section loads, and a wrong platform is refused.
func TestExampleAlerts(t *testing.T) {
	f, err := Load("../deploy/config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if f.Alerts.Channels["slack"] != "C0123ONCALL" || !slices.Equal(f.Alerts.SilenceHours, []int{1, 4, 24}) ||
		f.Alerts.ScheduleGrace != 30*time.Minute || f.Alerts.Webhooks[0].SecretEnv != "BACKUPBOT_WEBHOOK_SECRET" {
		t.Errorf("alerts = %+v", f.Alerts)
	}
	if err := (Alerts{Channels: map[string]string{"teams": "x"}}).Validate(); err == nil {
		t.Error("alerts.channels.teams accepted")
	}
}
