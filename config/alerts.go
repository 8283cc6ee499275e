package config

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Alerts is where on-call alerts go (the `alerts:` key). With no channel
// set, incidents are still kept (and exported as metrics) but not posted.
type Alerts struct {
	// Channels is the on-call channel per platform (console, slack,
	// discord): a channel ID or name as the platform takes it.
	Channels map[string]string `yaml:"channels,omitempty"`
	// Severity is shown on every incident (default "critical").
	Severity string `yaml:"severity,omitempty"`
	// Mentions are put in an incident's root message when it opens
	// ("<!subteam^S123>" on Slack, "<@&role>" on Discord, "@oncall").
	Mentions []string `yaml:"mentions,omitempty"`
	// SilenceHours are the durations the Silence buttons offer (default 1, 4 and 24).
	SilenceHours []int `yaml:"silence_hours,omitempty"`
	// ScheduleGrace is how long past its due time a schedule may go with no
	// good run before a missed-schedule incident opens (default 30m).
	ScheduleGrace time.Duration `yaml:"schedule_grace,omitempty"`
	// EscalateAfter, when set, escalates an incident still unacknowledged
	// this long after it opened: EscalateMentions go into its thread and
	// it is posted to EscalationChannels (per platform) too.
	EscalateAfter      time.Duration     `yaml:"escalate_after,omitempty"`
	EscalateMentions   []string          `yaml:"escalate_mentions,omitempty"`
	EscalationChannels map[string]string `yaml:"escalation_channels,omitempty"`
	// Webhooks get a signed JSON POST per incident change.
	Webhooks []Webhook `yaml:"webhooks,omitempty"`
}

// Webhook is one receiver of incident changes.
type Webhook struct {
	URL string `yaml:"url"`
	// SecretEnv names the environment variable holding the HMAC secret
	// (the secret itself never goes in the file).
	SecretEnv string `yaml:"secret_env"`
}

// alertPlatforms are the platforms an alerts channel may be set for.
var alertPlatforms = []string{"console", "slack", "discord"}

// WithDefaults returns a with its defaults filled in.
func (a Alerts) WithDefaults() Alerts {
	if a.Severity == "" {
		a.Severity = "critical"
	}
	if len(a.SilenceHours) == 0 {
		a.SilenceHours = []int{1, 4, 24}
	}
	if a.ScheduleGrace <= 0 {
		a.ScheduleGrace = 30 * time.Minute
	}
	return a
}

// Validate checks the section (called by Load).
func (a Alerts) Validate() error {
	for key, chans := range map[string]map[string]string{"channels": a.Channels, "escalation_channels": a.EscalationChannels} {
		for p := range chans {
			if !slices.Contains(alertPlatforms, p) {
				return fmt.Errorf("alerts.%s: unknown platform %q (use console, slack or discord)", key, p)
			}
		}
	}
	for i, w := range a.Webhooks {
		if !strings.HasPrefix(w.URL, "https://") && !strings.HasPrefix(w.URL, "http://") {
			return fmt.Errorf("alerts.webhooks[%d].url: %q is not an http(s) URL", i, w.URL)
		}
		if w.SecretEnv == "" {
			return fmt.Errorf("alerts.webhooks[%d]: set secret_env, the variable holding the signing secret", i)
		}
	}
	for _, h := range a.SilenceHours {
		if h <= 0 || h > 24*14 {
			return fmt.Errorf("alerts.silence_hours: %d is not between 1 and 336 hours", h)
		}
	}
	return nil
}
