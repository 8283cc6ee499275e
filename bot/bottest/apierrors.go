package bottest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/internal/promcheck"
)

// APIErrors is a bot.ChatAPIErrors on a registry of its own, for an
// adapter's APIErrors option, that reads back what it counted.
type APIErrors struct {
	// Errs is what the adapter counts its failed calls in.
	Errs     *bot.ChatAPIErrors
	reg      *prometheus.Registry
	platform bot.Platform
}

// NewAPIErrors returns an empty APIErrors for platform's calls.
func NewAPIErrors(platform bot.Platform) *APIErrors {
	reg := prometheus.NewRegistry()
	return &APIErrors{Errs: bot.NewMetrics(reg).ChatAPIErrors(), reg: reg, platform: platform}
}

// Counted is backupbot_chat_api_errors_total of the platform, by kind.
func (a *APIErrors) Counted(t *testing.T) map[string]float64 {
	t.Helper()
	return promcheck.Sum(t, a.reg, "backupbot_chat_api_errors_total", map[string]string{"platform": string(a.platform)}, "kind")
}

// Check fails the test unless each kind in want was counted as often as
// it says, and unless promtool accepts the registry's exposition.
func (a *APIErrors) Check(t *testing.T, want map[string]float64) {
	t.Helper()
	got := a.Counted(t)
	for kind, n := range want {
		if got[kind] != n {
			t.Errorf("backupbot_chat_api_errors_total{platform=%q,kind=%q} = %v, want %v (all: %v)", a.platform, kind, got[kind], n, got)
		}
	}
	promcheck.Metrics(t, promcheck.Exposition(t, a.reg))
}
