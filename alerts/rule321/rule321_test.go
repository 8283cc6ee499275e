package rule321

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/storage"
)

// The configurations the README's 3-2-1 table shows; the test checks that
// the README says for each exactly what Evaluate says.
func TestThreeTwoOneMatchesTheREADME(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	local := storage.Spec{Type: storage.KindLocal, Path: "/srv/repo"}
	local2 := storage.Spec{Type: storage.KindLocal, Path: "/mnt/usb/repo"}
	nas := storage.Spec{Type: storage.KindNetwork, Path: `\\nas\backups\repo`}
	s3 := storage.Spec{Type: storage.KindS3, Bucket: "b"}
	held := func(name string, spec storage.Spec, age time.Duration) Copy {
		c := CopyOf(name, spec)
		c.HasLatest, c.Newest = true, now.Add(-age)
		return c
	}
	cases := []struct {
		name   string
		copies []Copy
		period time.Duration
		want   Status
	}{
		{"one copy", []Copy{held("local", local, time.Hour)}, 0,
			Status{Copies: 1, Kinds: 1, Offsite: 0, Fresh: true, Met: false}},
		{"two local copies", []Copy{held("local", local, time.Hour), held("usb", local2, time.Hour)}, 0,
			Status{Copies: 2, Kinds: 1, Offsite: 0, Fresh: true, Met: false}},
		{"local + cloud", []Copy{held("local", local, time.Hour), held("offsite", s3, time.Hour)}, 0,
			Status{Copies: 2, Kinds: 2, Offsite: 1, Fresh: true, Met: false}},
		{"local + network + cloud", []Copy{held("local", local, time.Hour), held("nas", nas, time.Hour), held("offsite", s3, time.Hour)}, 0,
			Status{Copies: 3, Kinds: 3, Offsite: 1, Fresh: true, Met: true}},
		{"two local + cloud", []Copy{held("local", local, time.Hour), held("usb", local2, time.Hour), held("offsite", s3, time.Hour)}, 0,
			Status{Copies: 3, Kinds: 2, Offsite: 1, Fresh: true, Met: true}},
		{"stale cloud copy", []Copy{held("local", local, time.Hour), held("nas", nas, time.Hour), held("offsite", s3, 27*time.Hour)}, 0,
			Status{Copies: 3, Kinds: 3, Offsite: 1, Fresh: false, Met: false}},
		{"weekly schedule", []Copy{held("local", local, 5*24*time.Hour), held("nas", nas, 5*24*time.Hour), held("offsite", s3, 5*24*time.Hour)}, 7 * 24 * time.Hour,
			Status{Copies: 3, Kinds: 3, Offsite: 1, Fresh: true, Met: true}},
		{"cloud copy lacks the latest", []Copy{held("local", local, time.Hour), held("nas", nas, time.Hour),
			{Storage: "offsite", Media: storage.MediaObject, Offsite: true, Newest: now.Add(-20 * time.Hour)}}, 0,
			Status{Copies: 2, Kinds: 2, Offsite: 0, Fresh: true, Met: false}},
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Evaluate("data", tc.copies, tc.period, now)
			if got.Copies != tc.want.Copies || got.Kinds != tc.want.Kinds || got.Offsite != tc.want.Offsite ||
				got.Fresh != tc.want.Fresh || got.Met != tc.want.Met {
				t.Errorf("Evaluate = %d copies, %d kinds, %d off-site, fresh %v, met %v; want %d, %d, %d, %v, %v",
					got.Copies, got.Kinds, got.Offsite, got.Fresh, got.Met,
					tc.want.Copies, tc.want.Kinds, tc.want.Offsite, tc.want.Fresh, tc.want.Met)
			}
			line := ThreeTwoOneLine("data", tc.copies, tc.period, now)
			if line != got.Line() {
				t.Errorf("ThreeTwoOneLine = %q; Status.Line = %q", line, got.Line())
			}
			row := ""
			for l := range strings.SplitSeq(string(readme), "\n") {
				if strings.HasPrefix(l, "| "+tc.name+" |") {
					row = l
				}
			}
			if row == "" {
				t.Fatalf("README's 3-2-1 table has no row %q (it says %q)", tc.name, line)
			}
			if !strings.Contains(row, "`"+line+"`") {
				t.Errorf("README row %q\n does not show the line %q", row, line)
			}
		})
	}
}

func TestStaleNamesStoragesWithoutBackups(t *testing.T) {
	now := time.Now()
	st := Evaluate("data", []Copy{
		{Storage: "local", Media: storage.MediaLocal, HasLatest: true, Newest: now},
		{Storage: "offsite", Media: storage.MediaObject, Offsite: true}, // never copied
		{Storage: "azure", Media: storage.MediaObject, Offsite: true, Err: "unreachable"},
	}, 0, now)
	if st.Fresh || st.Met || strings.Join(st.Stale, ",") != "offsite,azure" {
		t.Errorf("stale = %v, fresh %v, met %v; want offsite and azure stale, not met", st.Stale, st.Fresh, st.Met)
	}
	if st := Evaluate("data", nil, 0, now); st.Fresh || st.Met {
		t.Errorf("no storages at all: fresh %v, met %v; want neither", st.Fresh, st.Met)
	}
}
