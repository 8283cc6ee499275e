package retention_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/storage/retention"
)

// history builds snapshots for one target from times, all full unless
// types says otherwise (types[i%len(types)]).
func history(target string, times []time.Time, types ...string) []retention.Snapshot {
	out := make([]retention.Snapshot, len(times))
	for i, t := range times {
		typ := "full"
		if len(types) > 0 {
			typ = types[i%len(types)]
		}
		out[i] = retention.Snapshot{ID: fmt.Sprintf("%s-%05d", target, i), Time: t, Type: typ, Target: target}
	}
	return out
}

// dailies makes one snapshot a day at hh:mm in loc from start for days
// days, skipping the days skip returns true for.
func dailies(start time.Time, days, hh, mm int, loc *time.Location, skip func(i int) bool) []time.Time {
	var out []time.Time
	for i := range days {
		if skip != nil && skip(i) {
			continue
		}
		d := start.AddDate(0, 0, i)
		out = append(out, time.Date(d.Year(), d.Month(), d.Day(), hh, mm, 0, 0, loc))
	}
	return out
}

func kept(ds []retention.Decision) []string {
	var out []string
	for _, d := range ds {
		if d.Keep {
			out = append(out, d.Snapshot.ID)
		}
	}
	sort.Strings(out)
	return out
}

// oracle is the README's semantics written the other way round: for each
// rule, group the snapshots of its type by calendar period in the zone,
// take the newest of each period, and keep the newest Count periods'
// winners. last keeps the newest N, within keeps those after newest-span.
// Then the floor. No streaming, no shared code with the package.
func oracle(snaps []retention.Snapshot, p retention.Policy, now time.Time) []string {
	loc := p.Location
	if loc == nil {
		loc = time.UTC
	}
	keep := map[string]bool{}
	byTarget := map[string][]retention.Snapshot{}
	for _, s := range snaps {
		byTarget[s.Target] = append(byTarget[s.Target], s)
	}
	for _, group := range byTarget {
		slices.SortFunc(group, func(a, b retention.Snapshot) int { return b.Time.Compare(a.Time) })
		own := map[string]bool{}
		ok := func(s retention.Snapshot) bool { return s.Status == "" }
		type rule struct {
			r   retention.Rule
			key func(t time.Time) string
		}
		rules := []rule{
			{p.Hourly, func(t time.Time) string { return fmt.Sprint(t.Year(), t.YearDay(), t.Hour()) }},
			{p.Daily, func(t time.Time) string { return fmt.Sprint(t.Year(), t.YearDay()) }},
			{p.Weekly, func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprint(y, w) }},
			{p.Monthly, func(t time.Time) string { return fmt.Sprint(t.Year(), t.Month()) }},
			{p.Yearly, func(t time.Time) string { return fmt.Sprint(t.Year()) }},
		}
		for _, r := range rules {
			winner := map[string]retention.Snapshot{}
			for _, s := range group {
				if !ok(s) || (r.r.Type != "" && s.Type != r.r.Type) {
					continue
				}
				k := r.key(s.Time.In(loc))
				if w, has := winner[k]; !has || s.Time.After(w.Time) {
					winner[k] = s
				}
			}
			var ws []retention.Snapshot
			for _, w := range winner {
				ws = append(ws, w)
			}
			slices.SortFunc(ws, func(a, b retention.Snapshot) int { return b.Time.Compare(a.Time) })
			for i := 0; i < r.r.Count && i < len(ws); i++ {
				own[ws[i].ID] = true
			}
		}
		n := 0
		for _, s := range group {
			if ok(s) && n < p.Last {
				own[s.ID] = true
				n++
			}
		}
		if !p.Within.IsZero() {
			newest := group[0].Time.In(loc)
			cut := newest.AddDate(-p.Within.Years, -p.Within.Months, -p.Within.Days).Add(-time.Duration(p.Within.Hours) * time.Hour)
			for _, s := range group {
				if s.Time.After(cut) {
					own[s.ID] = true
				}
			}
		}
		if p.Empty() {
			for _, s := range group {
				own[s.ID] = true
			}
		}
		for _, s := range group {
			if !s.ExpiresAt.IsZero() {
				own[s.ID] = now.Before(s.ExpiresAt)
			}
		}
		// Floor.
		for i, s := range group {
			if i < p.KeepMin || s.Tags[retention.KeepTag] == "true" {
				own[s.ID] = true
			}
		}
		for _, s := range group {
			if ok(s) {
				own[s.ID] = true
				break
			}
		}
		for id, k := range own {
			if k {
				keep[id] = true
			}
		}
	}
	// Chains.
	byID := map[string]retention.Snapshot{}
	for _, s := range snaps {
		byID[s.ID] = s
	}
	for changed := true; changed; {
		changed = false
		for id := range keep {
			s := byID[id]
			if s.Type != "full" && s.Parent != "" && !keep[s.Parent] {
				if _, exists := byID[s.Parent]; exists {
					keep[s.Parent] = true
					changed = true
				}
			}
		}
	}
	var out []string
	for id := range keep {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("time zone %s: %v (install tzdata)", name, err)
	}
	return loc
}

type tcase struct {
	name  string
	snaps []retention.Snapshot
	p     retention.Policy
	// restic: the flags of `restic forget` that mean the same policy, when
	// restic's rules apply (no types, no chain, no keep_min, no expiry).
	restic []string
	// want, when set, is the kept set written out by hand.
	want []string
}

// cases are the synthetic histories of the table tests.
func cases(t *testing.T) []tcase {
	berlin := mustLoc(t, "Europe/Berlin")
	tokyo := mustLoc(t, "Asia/Tokyo")
	ny := mustLoc(t, "America/New_York")
	start := time.Date(2024, 11, 3, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(13, 13))

	// Two years of dailies at 02:00 UTC with gaps: a missing week every
	// two months, and a random 10% of days.
	gappy := dailies(start, 730, 2, 0, time.UTC, func(i int) bool { return i%60 < 7 || rng.IntN(10) == 0 })
	// Several per day: every 5 hours for 40 days.
	var several []time.Time
	for h := 0; h < 40*24; h += 5 {
		several = append(several, start.Add(time.Duration(h)*time.Hour+17*time.Minute))
	}
	// Around midnight UTC, which is morning in Tokyo: UTC days and Tokyo
	// days split them differently.
	var boundary []time.Time
	for i := range 30 {
		d := start.AddDate(0, 0, i)
		boundary = append(boundary, d.Add(-90*time.Minute), d.Add(-20*time.Minute), d.Add(40*time.Minute))
	}
	// Hourly across both 2025 DST changes in Berlin (and a daily history
	// across them in New York).
	var dst []time.Time
	for _, day := range []time.Time{time.Date(2025, 3, 29, 20, 0, 0, 0, time.UTC), time.Date(2025, 10, 25, 20, 0, 0, 0, time.UTC)} {
		for m := 0; m < 12*60; m += 25 {
			dst = append(dst, day.Add(time.Duration(m)*time.Minute))
		}
	}
	dstDaily := dailies(time.Date(2025, 2, 1, 0, 0, 0, 0, ny), 300, 23, 30, ny, func(i int) bool { return i%11 == 3 })

	var out []tcase
	gfs := retention.Policy{Daily: retention.Rule{Count: 7}, Weekly: retention.Rule{Count: 4}, Monthly: retention.Rule{Count: 12}, Yearly: retention.Rule{Count: 7}}
	out = append(out,
		tcase{name: "two years gappy GFS", snaps: history("d", gappy), p: gfs,
			restic: []string{"--keep-daily", "7", "--keep-weekly", "4", "--keep-monthly", "12", "--keep-yearly", "7"}},
		tcase{name: "two years gappy last+within", snaps: history("d", gappy), p: retention.Policy{Last: 5, Within: retention.Within{Months: 2, Days: 3}},
			restic: []string{"--keep-last", "5", "--keep-within", "2m3d"}},
		tcase{name: "two years gappy weekly only", snaps: history("d", gappy), p: retention.Policy{Weekly: retention.Rule{Count: 60}},
			restic: []string{"--keep-weekly", "60"}},
		tcase{name: "several per day hourly+daily", snaps: history("s", several), p: retention.Policy{Hourly: retention.Rule{Count: 10}, Daily: retention.Rule{Count: 20}},
			restic: []string{"--keep-hourly", "10", "--keep-daily", "20"}},
		tcase{name: "midnight in UTC", snaps: history("b", boundary), p: retention.Policy{Daily: retention.Rule{Count: 12}, Location: time.UTC},
			restic: []string{"--keep-daily", "12"}},
		tcase{name: "midnight in Tokyo", snaps: history("b", boundary), p: retention.Policy{Daily: retention.Rule{Count: 12}, Location: tokyo},
			restic: []string{"--keep-daily", "12"}},
		tcase{name: "DST hourly Berlin", snaps: history("h", dst), p: retention.Policy{Hourly: retention.Rule{Count: 20}, Daily: retention.Rule{Count: 3}, Location: berlin},
			restic: []string{"--keep-hourly", "20", "--keep-daily", "3"}},
		tcase{name: "DST daily New York", snaps: history("n", dstDaily), p: retention.Policy{Daily: retention.Rule{Count: 30}, Weekly: retention.Rule{Count: 20}, Monthly: retention.Rule{Count: 5}, Location: ny},
			restic: []string{"--keep-daily", "30", "--keep-weekly", "20", "--keep-monthly", "5"}},
		tcase{name: "within in hours", snaps: history("s", several), p: retention.Policy{Within: retention.Within{Days: 3, Hours: 7}},
			restic: []string{"--keep-within", "3d7h"}},
	)

	// Mixed types with chains: a weekly full on Sundays, differentials on
	// Wednesdays, incrementals otherwise (parent: the previous snapshot;
	// a differential's parent: the last full).
	mixed := history("m", dailies(start, 730, 3, 0, time.UTC, func(i int) bool { return i%97 == 50 }))
	var lastFull, prev string
	for i := range mixed {
		switch mixed[i].Time.Weekday() {
		case time.Sunday:
			mixed[i].Type = "full"
		case time.Wednesday:
			mixed[i].Type, mixed[i].Parent = "differential", lastFull
		default:
			mixed[i].Type, mixed[i].Parent = "incremental", prev
		}
		if mixed[i].Type == "full" {
			lastFull = mixed[i].ID
		}
		prev = mixed[i].ID
	}
	out = append(out,
		tcase{name: "mixed types reference policy", snaps: mixed, p: retention.Policy{
			Daily: retention.Rule{Count: 7, Type: "incremental"}, Weekly: retention.Rule{Count: 4, Type: "differential"},
			Monthly: retention.Rule{Count: 12, Type: "full"}, Yearly: retention.Rule{Count: 7, Type: "full"}, KeepMin: 3}},
		tcase{name: "mixed types daily only", snaps: mixed, p: retention.Policy{Daily: retention.Rule{Count: 10}}},
	)

	// Hand-written: two targets, a keep tag, expiry both ways, a partial.
	day := func(d, h int) time.Time { return time.Date(2026, 1, d, h, 0, 0, 0, time.UTC) }
	hand := []retention.Snapshot{
		{ID: "a1", Time: day(1, 1), Type: "full", Target: "a"},
		{ID: "a2", Time: day(1, 5), Type: "full", Target: "a"},
		{ID: "a3", Time: day(2, 1), Type: "full", Target: "a", Tags: map[string]string{"keep": "true"}},
		{ID: "a4", Time: day(3, 1), Type: "incremental", Target: "a", Parent: "a2"},
		{ID: "a5", Time: day(4, 1), Type: "full", Target: "a", ExpiresAt: day(4, 2)},
		{ID: "a6", Time: day(5, 1), Type: "full", Target: "a", Status: "partial"},
		{ID: "b1", Time: day(1, 1), Type: "full", Target: "b", ExpiresAt: day(30, 0)},
		{ID: "b2", Time: day(2, 1), Type: "full", Target: "b", ExpiresAt: day(3, 0)},
		{ID: "b3", Time: day(3, 1), Type: "full", Target: "b", ExpiresAt: day(4, 0)},
	}
	out = append(out, tcase{name: "hand: floor, tags, expiry, partial", snaps: hand,
		p: retention.Policy{Daily: retention.Rule{Count: 1, Type: "incremental"}},
		// a4: daily (incremental); a2: its parent; a3: tagged; a5 expired
		// but the newest successful of a; a6 partial fills no bucket;
		// b1 retention until 30th; b2 expired; b3 expired but newest.
		want: []string{"a2", "a3", "a4", "a5", "b1", "b3"}})
	return out
}

var now = time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)

func TestPolicyKeepsWhatTheREADMESays(t *testing.T) {
	for _, c := range cases(t) {
		t.Run(c.name, func(t *testing.T) {
			got := kept(retention.Apply(c.snaps, c.p, now))
			want := c.want
			if want == nil {
				want = oracle(c.snaps, c.p, now)
			} else if o := oracle(c.snaps, c.p, now); !slices.Equal(o, want) {
				t.Fatalf("the oracle disagrees with the hand-written set: %v vs %v", o, want)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("kept %d snapshots, want %d\n got %v\nwant %v", len(got), len(want), got, want)
			}
			if len(got) == 0 || len(got) == len(c.snaps) && !c.p.Empty() && len(c.snaps) > 20 {
				t.Fatalf("a degenerate case (kept %d of %d) tests nothing", len(got), len(c.snaps))
			}
		})
	}
}

func TestEveryDecisionHasAReason(t *testing.T) {
	for _, c := range cases(t) {
		for _, d := range retention.Apply(c.snaps, c.p, now) {
			if len(d.Reasons) == 0 {
				t.Fatalf("%s: %s has no reason", c.name, d.Snapshot.ID)
			}
			if !d.Keep && !strings.HasPrefix(d.Reason(), "expired") && d.Reason() != "no rule keeps it" {
				t.Fatalf("%s: removed %s with reason %q", c.name, d.Snapshot.ID, d.Reason())
			}
		}
	}
	ds := retention.Apply([]retention.Snapshot{
		{ID: "x1", Time: now.Add(-48 * time.Hour), Type: "full", Target: "t"},
		{ID: "x2", Time: now.Add(-47 * time.Hour), Type: "full", Target: "t"},
		{ID: "x3", Time: now.Add(-time.Hour), Type: "full", Target: "t"},
	}, retention.Policy{Daily: retention.Rule{Count: 5}}, now)
	got := map[string]string{}
	for _, d := range ds {
		got[d.Snapshot.ID] = d.Reason()
	}
	want := map[string]string{"x3": "daily 2026-01-09, newest successful of its target", "x2": "daily 2026-01-08", "x1": "no rule keeps it"}
	for id, r := range want {
		if got[id] != r {
			t.Errorf("%s: reason %q, want %q", id, got[id], r)
		}
	}
}

func TestParseWithin(t *testing.T) {
	for in, want := range map[string]retention.Within{
		"30d": {Days: 30}, "1y6m": {Years: 1, Months: 6}, "2w": {Days: 14}, "2y5m7d3h": {Years: 2, Months: 5, Days: 7, Hours: 3},
	} {
		got, err := retention.ParseWithin(in)
		if err != nil || got != want {
			t.Errorf("ParseWithin(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"30", "d", "3x", "1.5d", "-3d"} {
		if _, err := retention.ParseWithin(bad); err == nil {
			t.Errorf("ParseWithin(%q) accepted", bad)
		}
	}
}

func TestValidate(t *testing.T) {
	err := retention.Policy{Weekly: retention.Rule{Count: 2, Type: "fulll"}}.Validate()
	if err == nil || !strings.Contains(err.Error(), "weekly.type") {
		t.Fatalf("bad type: %v", err)
	}
	if err := (retention.Policy{Daily: retention.Rule{Count: -1}}).Validate(); err == nil || !strings.Contains(err.Error(), "daily.count") {
		t.Fatalf("negative count: %v", err)
	}
}
