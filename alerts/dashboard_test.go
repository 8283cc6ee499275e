package alerts_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/backupbot/backupbot/alerts"
	"github.com/backupbot/backupbot/bot"
)

// describer is a Registerer that keeps the names of what is registered.
type describer struct{ names map[string]bool }

func (d describer) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 64)
	go func() { c.Describe(ch); close(ch) }()
	re := regexp.MustCompile(`fqName: "([^"]+)"`)
	for desc := range ch {
		if m := re.FindStringSubmatch(desc.String()); m != nil {
			d.names[m[1]] = true
		}
	}
	return nil
}
func (d describer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = d.Register(c)
	}
}
func (d describer) Unregister(prometheus.Collector) bool { return false }

// TestShippedFilesUseExportedMetrics fails when the Grafana dashboard or
// the alert rules name a backupbot metric that /metrics does not export
// (a renamed metric would leave an empty panel or a rule that never fires).
func TestShippedFilesUseExportedMetrics(t *testing.T) {
	d := describer{names: map[string]bool{}}
	d.MustRegister(alerts.NewCollector(nil, nil))
	bot.NewMetrics(d)
	if !d.names["backupbot_backup_last_success_timestamp_seconds"] || !d.names["backupbot_chat_errors_total"] {
		t.Fatalf("describer missed names: %v", d.names)
	}

	raw, err := os.ReadFile("../deploy/grafana/backupbot.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("deploy/grafana/backupbot.json: %v", err)
	}
	if len(dash.Panels) < 8 {
		t.Fatalf("dashboard has %d panels", len(dash.Panels))
	}
	rules, err := os.ReadFile("../deploy/prometheus/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	exprs := []string{string(rules)}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	name := regexp.MustCompile(`backupbot_[a-z_]+`)
	for _, e := range exprs {
		for _, n := range name.FindAllString(e, -1) {
			base := n
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if strings.HasSuffix(n, suf) && d.names[strings.TrimSuffix(n, suf)] {
					base = strings.TrimSuffix(n, suf)
				}
			}
			if !d.names[base] {
				t.Errorf("%s is used in the dashboard or rules but not exported", n)
			}
		}
	}
}
