package compliance

import (
	"slices"
	"sort"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/storage/retention"
)

// DefaultRecent is how old the last good backup of a target without a
// backup schedule may be before the target counts as not recently backed up.
const DefaultRecent = 7 * 24 * time.Hour

// Coverage states of a target.
const (
	Covered    = "ok"
	NoSchedule = "no schedule"
	NotRecent  = "no recent backup"
	Never      = "never backed up"
)

// Schedule is a backup schedule as Compute needs it.
type Schedule struct {
	Name string
	Cron string
	// Kind is what it runs: "" or "backup" count for coverage; verify and
	// cleanup schedules do not.
	Kind string
	// Targets are the targets its backups cover ("all" expanded).
	Targets []string
	Storage string
}

// Input is everything Compute reads.
type Input struct {
	Now    time.Time
	Config *config.File
	// Schedules are the schedules in force; SchedulesKnown false means
	// they could not be read (then no target is called unscheduled).
	Schedules      []Schedule
	SchedulesKnown bool
	// Jobs is the job history (any order).
	Jobs []Job
	// Snapshots are the snapshots the storages hold (any order).
	Snapshots []Snap
	// Grace is how far past its schedule period a backup may be late
	// before the target is stale.
	Grace time.Duration
	// ThreeTwoOne, when set, says a target's 3-2-1 status ("" for none).
	ThreeTwoOne func(target string) string
}

// Rate is the outcome count of a target's backups in a window.
type Rate struct{ OK, Failed int }

// Runs is how many backups ran.
func (r Rate) Runs() int { return r.OK + r.Failed }

// Percent is the share that succeeded, -1 when none ran.
func (r Rate) Percent() float64 {
	if r.Runs() == 0 {
		return -1
	}
	return 100 * float64(r.OK) / float64(r.Runs())
}

// Target is one target's figures.
type Target struct {
	Name string
	// Schedules name the backup schedules covering it; Period is the
	// shortest of their periods (0 when none).
	Schedules []string
	Period    time.Duration
	// Allowed is how old the last good backup may be: Period plus the
	// grace, or DefaultRecent when no schedule covers the target.
	Allowed time.Duration
	// LastGood is the end of the newest successful backup (zero: none
	// known) and Storage where it went.
	LastGood time.Time
	Storage  string
	Age      time.Duration
	// Stale is set when there is no good backup within Allowed.
	Stale    bool
	Coverage string
	Rate7    Rate
	Rate30   Rate
	// Snapshots counts the target's snapshots in the storages.
	Snapshots int
	// Retention says how the snapshots stand against the target's
	// retention policy: "ok", "no policy", or what is wrong.
	Retention string
	// RetentionOK is false when a policy exists and snapshots it does
	// not keep (expired ones among them) are still present.
	RetentionOK bool
	// PastRetention counts those snapshots.
	PastRetention int
	// ThreeTwoOne is the 3-2-1 status ("—" when none was computed).
	ThreeTwoOne string
	// WorstGap is the RPO achieved over the last 30 days: the longest
	// time without a good backup (up to now). RPOMet compares it with
	// Allowed.
	WorstGap time.Duration
	RPOMet   bool
}

// Report is the figures of every configured target.
type Report struct {
	At      time.Time
	Targets []Target
}

// Count says how many targets satisfy f.
func (r Report) Count(f func(Target) bool) int {
	n := 0
	for _, t := range r.Targets {
		if f(t) {
			n++
		}
	}
	return n
}

// Compute works out every configured target's figures.
func Compute(in Input) Report {
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	rep := Report{At: in.Now}
	if in.Config == nil {
		return rep
	}
	names := make([]string, 0, len(in.Config.Targets))
	for n := range in.Config.Targets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		rep.Targets = append(rep.Targets, in.target(name))
	}
	return rep
}

func (in Input) target(name string) Target {
	t := Target{Name: name, ThreeTwoOne: "—", RetentionOK: true}
	if in.ThreeTwoOne != nil {
		if s := in.ThreeTwoOne(name); s != "" {
			t.ThreeTwoOne = s
		}
	}
	for _, s := range in.Schedules {
		if (s.Kind != "" && s.Kind != "backup") || !slices.Contains(s.Targets, name) {
			continue
		}
		t.Schedules = append(t.Schedules, s.Name)
		if p := period(s.Cron, in.Now); p > 0 && (t.Period == 0 || p < t.Period) {
			t.Period = p
		}
	}
	t.Allowed = DefaultRecent
	if t.Period > 0 {
		t.Allowed = t.Period + in.Grace
	}

	// Good backups: successful backup jobs and the snapshots present.
	var good []time.Time
	mark := func(at time.Time, storage string) {
		good = append(good, at)
		if at.After(t.LastGood) {
			t.LastGood, t.Storage = at, storage
		}
	}
	for _, j := range in.Jobs {
		if j.Action != "create" || !slices.Contains(j.Targets, name) {
			continue
		}
		age := in.Now.Sub(j.End)
		switch j.Result {
		case "succeeded":
			mark(j.End, j.Storage)
			t.Rate30.OK += b2i(age <= 30*24*time.Hour)
			t.Rate7.OK += b2i(age <= 7*24*time.Hour)
		case "failed":
			t.Rate30.Failed += b2i(age <= 30*24*time.Hour)
			t.Rate7.Failed += b2i(age <= 7*24*time.Hour)
		}
	}
	var snaps []Snap
	for _, s := range in.Snapshots {
		if s.Target != name {
			continue
		}
		snaps = append(snaps, s)
		if !s.Partial {
			mark(s.Time, s.Storage)
		}
	}
	t.Snapshots = len(snaps)

	if !t.LastGood.IsZero() {
		t.Age = max(in.Now.Sub(t.LastGood), 0)
	}
	t.Stale = t.LastGood.IsZero() || t.Age > t.Allowed
	switch {
	case t.LastGood.IsZero():
		t.Coverage = Never
	case in.SchedulesKnown && len(t.Schedules) == 0:
		t.Coverage = NoSchedule
	case t.Stale:
		t.Coverage = NotRecent
	default:
		t.Coverage = Covered
	}
	t.WorstGap = worstGap(good, in.Now)
	t.RPOMet = !t.LastGood.IsZero() && t.WorstGap <= t.Allowed
	in.retention(&t, snaps)
	return t
}

// retention applies the target's policies to its snapshots, storage by
// storage, as a cleanup would, and counts what a cleanup would remove.
func (in Input) retention(t *Target, snaps []Snap) {
	_, p := in.Config.RetentionFor(t.Name, "")
	hasPolicy := !p.Empty()
	byStorage := map[string][]retention.Snapshot{}
	for _, s := range snaps {
		if !s.ExpiresAt.IsZero() {
			hasPolicy = true
		}
		if s.Schedule != "" {
			if _, sp := in.Config.RetentionFor(t.Name, s.Schedule); !sp.Empty() {
				hasPolicy = true
			}
		}
		status := ""
		if s.Partial {
			status = "partial"
		}
		tags := map[string]string{}
		if s.Schedule != "" {
			tags["schedule"] = s.Schedule
		}
		byStorage[s.Storage] = append(byStorage[s.Storage], retention.Snapshot{ID: s.ID, Time: s.Time, Type: s.Type,
			Target: s.Target, Tags: tags, Status: status, ExpiresAt: s.ExpiresAt})
	}
	if !hasPolicy {
		t.Retention = "no policy"
		return
	}
	policyFor := func(s retention.Snapshot) (string, retention.Policy) {
		return in.Config.RetentionFor(s.Target, s.Tags["schedule"])
	}
	for _, list := range byStorage {
		for _, d := range retention.ApplyBy(list, policyFor, in.Now) {
			expired := !d.Snapshot.ExpiresAt.IsZero() && d.Snapshot.ExpiresAt.Before(in.Now)
			if !d.Keep || expired {
				t.PastRetention++
			}
		}
	}
	t.RetentionOK = t.PastRetention == 0
	if t.RetentionOK {
		t.Retention = "ok"
	} else {
		t.Retention = plural(t.PastRetention, "snapshot") + " past retention still present"
	}
}

// period is the time between two runs of a cron schedule after now (0
// when the expression does not parse).
func period(expr string, now time.Time) time.Duration {
	s, err := cron.ParseStandard(expr)
	if err != nil {
		return 0
	}
	a := s.Next(now)
	return s.Next(a).Sub(a)
}

// worstGap is the longest stretch of the last 30 days without a good
// backup, the stretch up to now included.
func worstGap(good []time.Time, now time.Time) time.Duration {
	if len(good) == 0 {
		return 0
	}
	slices.SortFunc(good, func(a, b time.Time) int { return a.Compare(b) })
	from := now.Add(-30 * 24 * time.Hour)
	var worst time.Duration
	prev := time.Time{}
	for _, g := range good {
		if g.Before(from) {
			prev = g
			continue
		}
		if !prev.IsZero() {
			worst = max(worst, g.Sub(prev))
		}
		prev = g
	}
	return max(worst, now.Sub(prev))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
