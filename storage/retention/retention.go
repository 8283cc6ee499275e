// Package retention decides which snapshots a retention policy keeps and
// which it removes, and says why for each one. It is pure data in, data
// out: no I/O, no clock (the caller passes "now"), standard library only,
// so the engine, the jobs and the tests all share one implementation.
//
// The rules follow restic's `forget` with these differences: buckets are
// calendar periods (hour, day, ISO week, month, year) in the policy's time
// zone; a rule may name a backup type and then only snapshots of that type
// fill its buckets; and a floor no rule can cross keeps the newest
// successful snapshot of each target, the parent chain of every kept
// incremental or differential, snapshots tagged keep, and the newest
// keep_min of each target.
package retention

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Snapshot is what retention needs to know about one snapshot.
type Snapshot struct {
	ID     string
	Time   time.Time
	Type   string // full, incremental, differential, snapshot…
	Target string
	Tags   map[string]string
	// Status is empty or "success" for a complete snapshot; anything else
	// (partial, failed) never fills a bucket and never counts as the
	// newest successful snapshot of its target.
	Status string
	// Parent is the ID of the snapshot an incremental or differential was
	// made against (empty for a full).
	Parent string
	// ExpiresAt is the snapshot's own retention (create --retention,
	// snapshot --expire); zero when it has none.
	ExpiresAt time.Time
}

// Successful says whether the snapshot completed.
func (s Snapshot) Successful() bool { return s.Status == "" || s.Status == "success" }

// KeepTag is the tag (key) that keeps a snapshot whatever the rules say.
const KeepTag = "keep"

func (s Snapshot) tagged() bool {
	v, ok := s.Tags[KeepTag]
	return ok && v != "false" && v != "no" && v != "0"
}

// Rule keeps the newest snapshot (of Type, when set) in each of the Count
// newest periods that hold one.
type Rule struct {
	Count int    `yaml:"count" json:"count"`
	Type  string `yaml:"type,omitempty" json:"type,omitempty"`
}

// Within is a calendar span, restic style: "2y5m7d3h" (years, months,
// days, hours; "w" for weeks is accepted too).
type Within struct {
	Years, Months, Days, Hours int
	// invalid keeps text that did not parse, for Validate to report with
	// the key (a decoder's own error would lose the line).
	invalid string
}

// IsZero says whether the span is empty.
func (w Within) IsZero() bool { return w.Years == 0 && w.Months == 0 && w.Days == 0 && w.Hours == 0 }

func (w Within) String() string {
	if w.IsZero() {
		return ""
	}
	var b strings.Builder
	for _, p := range []struct {
		n int
		u string
	}{{w.Years, "y"}, {w.Months, "m"}, {w.Days, "d"}, {w.Hours, "h"}} {
		if p.n != 0 {
			b.WriteString(strconv.Itoa(p.n) + p.u)
		}
	}
	return b.String()
}

// ParseWithin reads "2y5m7d3h", "30d", "2w", "36h".
func ParseWithin(s string) (Within, error) {
	var w Within
	s = strings.TrimSpace(s)
	if s == "" {
		return w, nil
	}
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) {
			return Within{}, fmt.Errorf("within %q: write numbers followed by y, m, w, d or h, e.g. 30d or 1y6m", s)
		}
		n, err := strconv.Atoi(rest[:i])
		if err != nil {
			return Within{}, fmt.Errorf("within %q: %w", s, err)
		}
		switch rest[i] {
		case 'y':
			w.Years += n
		case 'm':
			w.Months += n
		case 'w':
			w.Days += 7 * n
		case 'd':
			w.Days += n
		case 'h':
			w.Hours += n
		default:
			return Within{}, fmt.Errorf("within %q: unit %q is not one of y, m, w, d, h", s, rest[i])
		}
		rest = rest[i+1:]
	}
	return w, nil
}

// UnmarshalText lets YAML and JSON carry "30d". Text that does not parse
// is kept and reported by Policy.Validate.
func (w *Within) UnmarshalText(b []byte) error {
	v, err := ParseWithin(string(b))
	if err != nil {
		v = Within{invalid: string(b)}
	}
	*w = v
	return nil
}

// MarshalText writes the restic-style form.
func (w Within) MarshalText() ([]byte, error) { return []byte(w.String()), nil }

// Policy is one retention policy. The zero Policy keeps everything (only
// expired snapshots go).
type Policy struct {
	Last    int    `yaml:"last,omitempty" json:"last,omitempty"`
	Hourly  Rule   `yaml:"hourly,omitempty" json:"hourly,omitzero"`
	Daily   Rule   `yaml:"daily,omitempty" json:"daily,omitzero"`
	Weekly  Rule   `yaml:"weekly,omitempty" json:"weekly,omitzero"`
	Monthly Rule   `yaml:"monthly,omitempty" json:"monthly,omitzero"`
	Yearly  Rule   `yaml:"yearly,omitempty" json:"yearly,omitzero"`
	Within  Within `yaml:"within,omitempty" json:"within,omitzero"`
	KeepMin int    `yaml:"keep_min,omitempty" json:"keep_min,omitempty"`
	// OlderThan, when set, keeps every snapshot newer than now minus it
	// (cleanup --older-than: the rest go unless the floor keeps them).
	OlderThan time.Duration `yaml:"-" json:"-"`
	// Location is the time zone of the calendar periods (nil: UTC).
	Location *time.Location `yaml:"-" json:"-"`
}

// Empty says whether the policy has no keeping rule at all (keep_min and
// the zone alone do not count): such a policy keeps every snapshot.
func (p Policy) Empty() bool {
	return p.Last == 0 && p.Hourly.Count == 0 && p.Daily.Count == 0 && p.Weekly.Count == 0 &&
		p.Monthly.Count == 0 && p.Yearly.Count == 0 && p.Within.IsZero() && p.OlderThan == 0
}

// Types are the backup types a rule may name.
var Types = []string{"full", "incremental", "differential", "snapshot"}

// Validate checks counts and types; the error names the key.
func (p Policy) Validate() error {
	if p.Last < 0 {
		return &FieldError{"last", "must be 0 or more"}
	}
	if p.KeepMin < 0 {
		return &FieldError{"keep_min", "must be 0 or more"}
	}
	for _, r := range p.rules() {
		if r.Count < 0 {
			return &FieldError{r.name + ".count", "must be 0 or more"}
		}
		if r.Type != "" && !slices.Contains(Types, r.Type) {
			return &FieldError{r.name + ".type", fmt.Sprintf("%q is not a backup type; use %s", r.Type, strings.Join(Types, ", "))}
		}
	}
	if p.Within.invalid != "" {
		_, err := ParseWithin(p.Within.invalid)
		return &FieldError{"within", err.Error()}
	}
	if p.Within.Years < 0 || p.Within.Months < 0 || p.Within.Days < 0 || p.Within.Hours < 0 {
		return &FieldError{"within", "must not be negative"}
	}
	return nil
}

// FieldError is a policy error at one key of the policy.
type FieldError struct {
	Key    string
	Reason string
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Reason }

type namedRule struct {
	Rule
	name   string
	bucket func(t time.Time) string
}

func (p Policy) rules() []namedRule {
	return []namedRule{
		{p.Hourly, "hourly", func(t time.Time) string { return t.Format("2006-01-02 15h") }},
		{p.Daily, "daily", func(t time.Time) string { return t.Format("2006-01-02") }},
		{p.Weekly, "weekly", func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-W%02d", y, w) }},
		{p.Monthly, "monthly", func(t time.Time) string { return t.Format("2006-01") }},
		{p.Yearly, "yearly", func(t time.Time) string { return t.Format("2006") }},
	}
}

// Decision is the verdict on one snapshot.
type Decision struct {
	Snapshot Snapshot
	Keep     bool
	// Reasons say which rules keep it ("daily 2026-12-03", "weekly
	// 2026-W49 (full)", "last 2/3", "tagged keep", "parent of kept …") or
	// why it goes ("expired 2026-12-01 10:00", "no rule keeps it").
	Reasons []string
}

// Reason is the reasons joined for one line of a report.
func (d Decision) Reason() string { return strings.Join(d.Reasons, ", ") }

// Apply decides every snapshot with one policy; each target is a group.
func Apply(snaps []Snapshot, p Policy, now time.Time) []Decision {
	return ApplyBy(snaps, func(s Snapshot) (string, Policy) { return s.Target, p }, now)
}

// ApplyBy decides every snapshot. policyFor puts each snapshot in a group
// (its target, or its target and schedule) and gives the group's policy;
// a group's rules and floor see only its own snapshots. The result is
// newest first.
func ApplyBy(snaps []Snapshot, policyFor func(Snapshot) (group string, p Policy), now time.Time) []Decision {
	sorted := slices.Clone(snaps)
	slices.SortStableFunc(sorted, func(a, b Snapshot) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	out := make([]Decision, len(sorted))
	byGroup := map[string][]int{}
	policies := map[string]Policy{}
	var order []string
	for i, s := range sorted {
		out[i].Snapshot = s
		g, p := policyFor(s)
		if _, ok := byGroup[g]; !ok {
			order = append(order, g)
			policies[g] = p
		}
		byGroup[g] = append(byGroup[g], i)
	}
	for _, g := range order {
		applyGroup(out, byGroup[g], policies[g], now)
	}
	// The parent chain crosses nothing but its own target, yet a parent
	// may be named by ID only: resolve over the whole set.
	keepChains(out)
	for i := range out {
		if !out[i].Keep && len(out[i].Reasons) == 0 {
			out[i].Reasons = []string{"no rule keeps it"}
		}
	}
	return out
}

// applyGroup decides the snapshots of one target (idx: newest first).
func applyGroup(out []Decision, idx []int, p Policy, now time.Time) {
	loc := p.Location
	if loc == nil {
		loc = time.UTC
	}
	keep := func(i int, reason string) {
		out[i].Keep = true
		out[i].Reasons = append(out[i].Reasons, reason)
	}
	if len(idx) == 0 {
		return
	}
	newest := out[idx[0]].Snapshot.Time.In(loc)
	cutoff := newest.AddDate(-p.Within.Years, -p.Within.Months, -p.Within.Days).Add(-time.Duration(p.Within.Hours) * time.Hour)
	rules := p.rules()
	last := make([]string, len(rules))
	left := make([]int, len(rules))
	for r := range rules {
		left[r] = rules[r].Count
	}
	lastLeft := p.Last
	for _, i := range idx {
		s := out[i].Snapshot
		t := s.Time.In(loc)
		if p.Empty() {
			keep(i, "the policy keeps everything")
		}
		if s.Successful() && lastLeft > 0 {
			keep(i, fmt.Sprintf("last %d/%d", p.Last-lastLeft+1, p.Last))
			lastLeft--
		}
		if !p.Within.IsZero() && t.After(cutoff) {
			keep(i, fmt.Sprintf("within %s of the newest", p.Within))
		}
		if p.OlderThan > 0 && now.Sub(s.Time) <= p.OlderThan {
			keep(i, "newer than "+days(p.OlderThan))
		}
		if s.Successful() {
			for r, rule := range rules {
				if left[r] == 0 || (rule.Type != "" && rule.Type != s.Type) {
					continue
				}
				if b := rule.bucket(t); b != last[r] {
					last[r] = b
					left[r]--
					reason := rule.name + " " + b
					if rule.Type != "" {
						reason += " (" + rule.Type + ")"
					}
					keep(i, reason)
				}
			}
		}
		// A snapshot's own retention: kept until it, removed after it.
		if !s.ExpiresAt.IsZero() {
			if now.Before(s.ExpiresAt) {
				keep(i, "retention until "+s.ExpiresAt.In(loc).Format("2006-01-02 15:04"))
			} else {
				out[i].Keep = false
				out[i].Reasons = []string{"expired " + s.ExpiresAt.In(loc).Format("2006-01-02 15:04")}
			}
		}
		if !out[i].Keep && p.OlderThan > 0 && len(out[i].Reasons) == 0 {
			out[i].Reasons = []string{"older than " + days(p.OlderThan)}
		}
	}
	// The floor, which no rule and no expiry crosses.
	newestOK := false
	for n, i := range idx {
		s := out[i].Snapshot
		if s.tagged() {
			floor(&out[i], "tagged "+KeepTag)
		}
		if !newestOK && s.Successful() {
			newestOK = true
			floor(&out[i], "newest successful of its target")
		}
		if n < p.KeepMin {
			floor(&out[i], fmt.Sprintf("keep_min %d", p.KeepMin))
		}
	}
}

// floor keeps a snapshot whatever was decided before, dropping a removal
// reason (expired) it had.
func floor(d *Decision, reason string) {
	if !d.Keep {
		d.Reasons = nil
	}
	d.Keep = true
	d.Reasons = append(d.Reasons, reason)
}

// keepChains keeps the parents of every kept snapshot, transitively.
func keepChains(out []Decision) {
	byID := make(map[string]int, len(out))
	for i, d := range out {
		byID[d.Snapshot.ID] = i
	}
	for i := range out {
		if !out[i].Keep {
			continue
		}
		child := i
		for {
			p := out[child].Snapshot.Parent
			j, ok := byID[p]
			if p == "" || !ok || out[child].Snapshot.Type == "full" {
				break
			}
			reason := "parent of kept " + short(out[child].Snapshot.ID)
			if out[j].Keep {
				if !slices.ContainsFunc(out[j].Reasons, func(r string) bool { return strings.HasPrefix(r, "parent of kept") }) {
					out[j].Reasons = append(out[j].Reasons, reason)
				}
				// Its own chain is (or will be) walked from it.
				break
			}
			floor(&out[j], reason)
			child = j
		}
	}
}

func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// Summary counts a set of decisions.
type Summary struct {
	Kept, Removed int
}

// Summarize counts kept and removed.
func Summarize(ds []Decision) Summary {
	var s Summary
	for _, d := range ds {
		if d.Keep {
			s.Kept++
		} else {
			s.Removed++
		}
	}
	return s
}
