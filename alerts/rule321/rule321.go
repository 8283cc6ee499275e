// Package rule321 decides whether a target's backups meet the 3-2-1 rule:
// at least 3 copies of the latest backup, on at least 2 kinds of media,
// at least 1 of them off-site, and every copy fresh. It is a leaf (it
// imports only storage's kind names), so the list command, the dashboard
// and the compliance report all say the same thing.
package rule321

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/backupbot/backupbot/storage"
)

// What "met" takes.
const (
	MinCopies  = 3
	MinKinds   = 2
	MinOffsite = 1
)

// Grace is added to a target's schedule period before a copy counts as
// stale; DefaultMaxAge applies to a target without a schedule.
const (
	Grace         = 2 * time.Hour
	DefaultMaxAge = 24*time.Hour + Grace
)

// Copy is one storage that should hold the target's backups: the
// primary (where backups are made) or a copy storage.
type Copy struct {
	Storage string `json:"storage"`
	// Media is storage.MediaLocal, MediaNetwork or MediaObject
	// (storage.Spec.Media).
	Media string `json:"media"`
	// Offsite is storage.Spec.IsOffsite.
	Offsite bool `json:"offsite"`
	// HasLatest says the storage holds the target's latest backup (the
	// snapshot itself or a copy of it).
	HasLatest bool `json:"has_latest"`
	// Newest is the time of the newest backup of the target it holds
	// (a copy keeps its source's time); zero: none.
	Newest time.Time `json:"newest,omitzero"`
	// Err is set when the storage could not be read; it then counts as
	// holding nothing.
	Err string `json:"error,omitempty"`
}

// Status is the verdict for one target.
type Status struct {
	Target string `json:"target"`
	// Copies counts the storages holding the latest backup; Kinds the
	// kinds of media among them; Offsite those of them off-site.
	Copies  int      `json:"copies"`
	Kinds   int      `json:"kinds"`
	Offsite int      `json:"offsite"`
	Holding []string `json:"holding"`
	Media   []string `json:"media"`
	// Stale names the storages whose newest backup of the target is older
	// than MaxAge (or that hold none); Fresh is true when none is.
	Stale  []string      `json:"stale,omitempty"`
	Fresh  bool          `json:"fresh"`
	MaxAge time.Duration `json:"max_age"`
	Met    bool          `json:"met"`
}

// MaxAge is how old a copy's newest backup may be: the schedule period
// plus Grace, or DefaultMaxAge without a schedule (period 0).
func MaxAge(period time.Duration) time.Duration {
	if period <= 0 {
		return DefaultMaxAge
	}
	return period + Grace
}

// Evaluate applies the rule to the storages of one target. period is the
// shortest period of the schedules that back the target up (0: none).
func Evaluate(target string, copies []Copy, period time.Duration, now time.Time) Status {
	st := Status{Target: target, MaxAge: MaxAge(period)}
	for _, c := range copies {
		if fresh := c.Err == "" && !c.Newest.IsZero() && now.Sub(c.Newest) <= st.MaxAge; !fresh {
			st.Stale = append(st.Stale, c.Storage)
		}
		if c.Err != "" || !c.HasLatest {
			continue
		}
		st.Copies++
		st.Holding = append(st.Holding, c.Storage)
		if !slices.Contains(st.Media, c.Media) {
			st.Media = append(st.Media, c.Media)
		}
		if c.Offsite {
			st.Offsite++
		}
	}
	st.Kinds = len(st.Media)
	st.Fresh = len(copies) > 0 && len(st.Stale) == 0
	st.Met = st.Copies >= MinCopies && st.Kinds >= MinKinds && st.Offsite >= MinOffsite && st.Fresh
	return st
}

// Line is the status in one line, e.g.
// "3-2-1 met: 3 copies (local, nas, offsite), 2 kinds of media (local disk, object storage), 1 off-site, all fresh (≤ 26h)".
func (s Status) Line() string {
	var b strings.Builder
	if s.Met {
		b.WriteString("3-2-1 met: ")
	} else {
		b.WriteString("3-2-1 NOT met: ")
	}
	need := func(n, min int) string {
		if n < min {
			return fmt.Sprintf(", need %d", min)
		}
		return ""
	}
	fmt.Fprintf(&b, "%d %s", s.Copies, plural(s.Copies, "copy", "copies"))
	if len(s.Holding) > 0 || s.Copies < MinCopies {
		fmt.Fprintf(&b, " (%s%s)", strings.Join(s.Holding, ", "), need(s.Copies, MinCopies))
	}
	fmt.Fprintf(&b, ", %d %s of media", s.Kinds, plural(s.Kinds, "kind", "kinds"))
	if len(s.Media) > 0 || s.Kinds < MinKinds {
		fmt.Fprintf(&b, " (%s%s)", strings.Join(s.Media, ", "), need(s.Kinds, MinKinds))
	}
	if s.Offsite > 0 {
		fmt.Fprintf(&b, ", %d off-site", s.Offsite)
	} else {
		b.WriteString(", no copy off-site")
	}
	if s.Fresh {
		fmt.Fprintf(&b, ", all fresh (≤ %s)", age(s.MaxAge))
	} else {
		fmt.Fprintf(&b, ", stale (older than %s or none): %s", age(s.MaxAge), strings.Join(s.Stale, ", "))
	}
	return b.String()
}

// ThreeTwoOneLine evaluates the rule and words it in one line (what the
// dashboard and the compliance report show per target).
func ThreeTwoOneLine(target string, copies []Copy, period time.Duration, now time.Time) string {
	return Evaluate(target, copies, period, now).Line()
}

// CopyOf describes a configured storage for Evaluate; the caller fills in
// HasLatest and Newest from the storage's snapshots.
func CopyOf(name string, spec storage.Spec) Copy {
	return Copy{Storage: name, Media: spec.Media(), Offsite: spec.IsOffsite()}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func age(d time.Duration) string {
	const day = 24 * time.Hour
	if d >= 2*day && d%time.Hour == 0 {
		if d%day == 0 {
			return fmt.Sprintf("%dd", d/day)
		}
		return fmt.Sprintf("%dd%dh", d/day, d%day/time.Hour)
	}
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}
