// Package promcheck helps tests read metrics and lint a Prometheus
// exposition with promtool, as `make test` sets it up
// (scripts/services/promtool.sh exports BACKUPBOT_TEST_PROMTOOL;
// otherwise promtool is looked up on PATH).
package promcheck

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics fails t unless `promtool check metrics` accepts exposition. A
// missing promtool fails the test too: it is part of the test set-up.
func Metrics(t testing.TB, exposition string) {
	t.Helper()
	p := os.Getenv("BACKUPBOT_TEST_PROMTOOL")
	if p == "" {
		var err error
		if p, err = exec.LookPath("promtool"); err != nil {
			t.Fatal("promtool is not installed: run `make test` (scripts/services/promtool.sh installs Debian's prometheus package)")
		}
	}
	cmd := exec.Command(p, "check", "metrics")
	cmd.Stdin = strings.NewReader(exposition)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\n--- exposition:\n%s", err, out, exposition)
	}
}

// Exposition is what /metrics serves from g, in the text format.
func Exposition(t testing.TB, g prometheus.Gatherer) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(g, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("gathering the metrics: HTTP %d: %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// Sum adds up the values of the counters or gauges called name in g whose
// labels include every label of match, by the value of label by.
func Sum(t testing.TB, g prometheus.Gatherer, name string, match map[string]string, by string) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range match {
				if labels[k] != v {
					continue next
				}
			}
			out[labels[by]] += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return out
}
