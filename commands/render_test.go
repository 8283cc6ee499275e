package commands

import (
	"testing"
	"time"
)

func TestRenderIsCanonical(t *testing.T) {
	cases := []struct {
		in   Command
		want string
	}{
		{&Create{Type: TypeFull, Target: "all", Compress: true, Encrypt: true}, "create --type full --encrypt"},
		{&Create{Type: TypeIncremental, Target: "config", Compress: false, Name: "pre deployment"}, "create --target config --name 'pre deployment' --compress=false"},
		{&Create{Type: TypeIncremental, Target: "all", Compress: true, Name: "it's"}, `create --name "it's"`},
		{&Create{Type: TypeIncremental, Target: "all", Compress: true, Name: "-odd"}, "create --name=-odd"},
		{&Create{Type: TypeIncremental, Target: "all", Compress: true, Tags: []Tag{{"a", "1"}, {"b", "x y"}}}, "create --tags 'a=1,b=x y'"},
		{&Restore{Date: &Date{2025, time.January, 15}, Time: &Clock{14, 30, 0}, Target: "all"}, "restore --date 2025-01-15 --time 14:30:00"},
		{&List{Storage: StorageRef{Name: "all"}}, "list"},
		{&Schedule{Op: ScheduleCreate, Name: "daily", Cron: "0 2 * * *", Type: TypeIncremental, Target: "all"}, "schedule --action create --name daily --cron '0 2 * * *' --type incremental --target all"},
		{&Export{Name: "a", Format: FormatTar, Split: 4e9}, "export --name a --split 4GB"},
		{&Status{JobID: "7f3a9c"}, "status 7f3a9c"},
		{&Help{}, "help"},
		{&Help{Topic: "restore"}, "help restore"},
		{(*Create)(nil), ""},
		{nil, ""},
	}
	for _, tc := range cases {
		if got := Render(tc.in); got != tc.want {
			t.Errorf("Render(%#v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestQuote(t *testing.T) {
	for _, s := range []string{"plain", "two words", "it's", `a "b" c`, `back\slash`, "#hash", "", "tab\there", "naïve"} {
		words, err := split("x " + Quote(s))
		if err != nil || len(words) != 2 || words[1] != s {
			t.Errorf("split(Quote(%q)) = %q, %v", s, words, err)
		}
	}
}
