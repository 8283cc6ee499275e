package bot

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the router's Prometheus collectors.
type Metrics struct {
	commands *prometheus.CounterVec
	ack      prometheus.Histogram
	events   *prometheus.CounterVec
	posts    *prometheus.CounterVec
	failures *prometheus.CounterVec
	apiErrs  *ChatAPIErrors
}

// NewMetrics creates the router's collectors and registers them on reg
// (nil: not registered, still usable).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		commands: counterVec("backupbot_commands_total",
			"Chat commands received, by action and outcome (enqueued, answered, denied, invalid, approval, confirmation, error).", "action", "outcome"),
		ack: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "backupbot_command_ack_seconds",
			Help:    "Time from a chat command's arrival to its immediate reply.",
			Buckets: []float64{.001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		events:   counterVec("backupbot_job_events_total", "Job events relayed to chat, by kind.", "kind"),
		posts:    counterVec("backupbot_chat_messages_total", "Messages the relay sent to chat, by platform and operation (post, edit, attach).", "platform", "op"),
		failures: counterVec("backupbot_chat_errors_total", "Chat API calls that failed, by platform and operation.", "platform", "op"),
		apiErrs:  newChatAPIErrors(),
	}
	if reg != nil {
		reg.MustRegister(m.commands, m.ack, m.events, m.posts, m.failures, m.apiErrs.v)
	}
	return m
}

func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

// ChatAPIErrors is the counter the chat adapters count their failed API
// calls with (their Options.APIErrors).
func (m *Metrics) ChatAPIErrors() *ChatAPIErrors { return m.apiErrs }

// Metrics returns the router's collectors.
func (r *Router) Metrics() *Metrics { return r.metrics }
