package config

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/storage/retention"
)

// DefaultRetentionSchedule is when the retention job runs when the
// configuration does not say (daily at 03:00 in the service's zone).
const DefaultRetentionSchedule = "0 3 * * *"

// Retention is the retention: block: the default policy (its keys inline:
// hourly, daily, weekly, monthly, yearly as {count, type}, last, within,
// keep_min), the zone of its calendar, when the retention job runs, where
// it reports, and policies for the snapshots of named schedules. A target
// may carry its own policy (targets.NAME.retention).
type Retention struct {
	retention.Policy `yaml:",inline"`
	// TimeZone names the zone of the calendar periods (IANA name, default UTC).
	TimeZone string `yaml:"time_zone,omitempty"`
	// Schedule is the retention job's cron (default DefaultRetentionSchedule);
	// "off" turns the job off.
	Schedule string `yaml:"schedule,omitempty"`
	// Channel is where the job posts its summary.
	Channel string `yaml:"channel,omitempty"`
	// PruneGrace is how long an unreferenced pack waits before a cleanup
	// deletes it while backups may be running (a Go duration, default
	// 24h): longer than any backup runs.
	PruneGrace string `yaml:"prune_grace,omitempty"`
	// MaxUnused is the share of unused bytes in kept packs tolerated
	// before a cleanup repacks them ("5%", the default; "off" never
	// repacks). MaxRepackSize bounds the packs rewritten by one cleanup
	// ("2GiB"; default no bound).
	MaxUnused     string `yaml:"max_unused,omitempty"`
	MaxRepackSize string `yaml:"max_repack_size,omitempty"`
	// Schedules are policies for the snapshots a named schedule made
	// (tagged schedule=NAME); they win over the target's and the default.
	Schedules map[string]retention.Policy `yaml:"schedules,omitempty"`
}

// Location is the zone of the calendar periods.
func (r Retention) Location() *time.Location {
	if r.TimeZone == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(r.TimeZone)
	if err != nil {
		return time.UTC // refused by Validate before this is reached
	}
	return loc
}

// Cron is when the retention job runs, "" when it is off.
func (r Retention) Cron() string {
	switch strings.TrimSpace(r.Schedule) {
	case "":
		return DefaultRetentionSchedule
	case "off":
		return ""
	}
	return r.Schedule
}

// Grace is PruneGrace as a duration (0: the engine's default).
func (r Retention) Grace() time.Duration {
	d, _ := time.ParseDuration(r.PruneGrace)
	return d
}

// Repack returns MaxUnused as a fraction (0: the engine's default, -1:
// off) and MaxRepackSize in bytes (0: no bound).
func (r Retention) Repack() (maxUnused float64, maxSize int64) {
	maxUnused, _ = parsePercent(r.MaxUnused)
	maxSize, _ = parseSize(r.MaxRepackSize)
	return maxUnused, maxSize
}

func parsePercent(s string) (float64, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "":
		return 0, nil
	case "off":
		return -1, nil
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil || !strings.HasSuffix(s, "%") || v < 0 || v > 100 {
		return 0, fmt.Errorf("%q is not a percentage; write e.g. 5%% (or off)", s)
	}
	return v / 100, nil
}

func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
			if err != nil || v <= 0 {
				break
			}
			return int64(v * float64(u.mult)), nil
		}
	}
	return 0, fmt.Errorf("%q is not a size; write e.g. 2GiB or 500MB", s)
}

// Validate checks the block; errors carry the key path for a line number.
func (r Retention) Validate() error {
	if err := policyError(r.Policy.Validate(), "retention"); err != nil {
		return err
	}
	if r.TimeZone != "" {
		if _, err := time.LoadLocation(r.TimeZone); err != nil {
			return at(fmt.Sprintf("%q is not a time zone this machine knows (an IANA name such as Europe/Berlin): %v", r.TimeZone, err), "retention", "time_zone")
		}
	}
	if c := r.Cron(); c != "" {
		if _, err := commands.ParseCron(c); err != nil {
			return at(err.Error()+`; or "off" for no retention job`, "retention", "schedule")
		}
	}
	if r.PruneGrace != "" {
		if d, err := time.ParseDuration(r.PruneGrace); err != nil || d <= 0 {
			return at(fmt.Sprintf("%q is not a positive duration; write e.g. 24h or 36h", r.PruneGrace), "retention", "prune_grace")
		}
	}
	if _, err := parsePercent(r.MaxUnused); err != nil {
		return at(err.Error(), "retention", "max_unused")
	}
	if _, err := parseSize(r.MaxRepackSize); err != nil {
		return at(err.Error(), "retention", "max_repack_size")
	}
	for _, name := range slices.Sorted(maps.Keys(r.Schedules)) {
		if err := policyError(r.Schedules[name].Validate(), "retention", "schedules", name); err != nil {
			return err
		}
	}
	return nil
}

func policyError(err error, prefix ...string) error {
	if err == nil {
		return nil
	}
	if fe, ok := err.(*retention.FieldError); ok {
		return at(fe.Reason, append(prefix, strings.Split(fe.Key, ".")...)...)
	}
	return at(err.Error(), prefix...)
}

// RetentionOn is RetentionFor for the backups on one storage: a storage
// with a retention policy of its own (storages.NAME.retention) applies it
// to every backup there, grouped by target; any other storage uses
// RetentionFor.
func (f *File) RetentionOn(storage string) func(target, schedule string) (string, retention.Policy) {
	s, ok := f.Storages[storage]
	if !ok || s.Retention == nil {
		return f.RetentionFor
	}
	sp := *s.Retention
	sp.Location = f.Retention.Location()
	return func(target, _ string) (string, retention.Policy) { return target, sp }
}

// RetentionFor says which group a snapshot's retention is decided in and
// with which policy: the policy of the schedule that made it
// (retention.schedules), else its target's (targets.NAME.retention), else
// the default (the retention block). Every policy uses the block's zone.
func (f *File) RetentionFor(target, schedule string) (group string, p retention.Policy) {
	loc := f.Retention.Location()
	if sp, ok := f.Retention.Schedules[schedule]; ok && schedule != "" {
		sp.Location = loc
		return target + "\x00schedule " + schedule, sp
	}
	if t, ok := f.Targets[target]; ok && t.Retention != nil {
		tp := *t.Retention
		tp.Location = loc
		return target, tp
	}
	p = f.Retention.Policy
	p.Location = loc
	return target, p
}
