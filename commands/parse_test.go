package commands

import (
	"reflect"
	"testing"
	"time"
)

func TestParseForms(t *testing.T) {
	defaultCreate := func(edit func(*Create)) *Create {
		c := &Create{Type: TypeIncremental, Target: "all", Compress: true}
		if edit != nil {
			edit(c)
		}
		return c
	}
	cases := []struct {
		name string
		text string
		want Command
	}{
		{"empty text lists actions", "", &Help{}},
		{"bare /backup lists actions", "/backup", &Help{}},
		{"help lists actions", "/backup help", &Help{}},
		{"help with a topic", "help restore", &Help{Topic: "restore"}},
		{"help topic in any case", "help RESTORE", &Help{Topic: "restore"}},
		{"--help on an action", "/backup restore --name x --help", &Help{Topic: "restore"}},
		{"-h on an action", "verify -h", &Help{Topic: "verify"}},
		{"--help alone", "--help", &Help{Topic: "create"}},
		{"help --help", "help --help", &Help{}},
		{"leading backup word", "backup create --type full", defaultCreate(func(c *Create) { c.Type = TypeFull })},
		{"no action word means create", "--type full --target data", defaultCreate(func(c *Create) { c.Type = TypeFull; c.Target = "data" })},
		{"/backup then flags means create", "/backup --encrypt", defaultCreate(func(c *Create) { c.Encrypt = true })},
		{"create alone has the defaults", "create", defaultCreate(nil)},
		{"flag=value form", "create --type=differential --target=logs", defaultCreate(func(c *Create) { c.Type = TypeDifferential; c.Target = "logs" })},
		{"--compress=false turns compression off", "create --compress=false", defaultCreate(func(c *Create) { c.Compress = false })},
		{"--compress=true keeps it on", "create --compress=true", defaultCreate(nil)},
		{"boolean words", "create --encrypt=yes --compress=off", defaultCreate(func(c *Create) { c.Encrypt = true; c.Compress = false })},
		{"action and values in any case", "CREATE --Type FULL", defaultCreate(func(c *Create) { c.Type = TypeFull })},
		{"quoted name with spaces", `create --name "pre deployment"`, defaultCreate(func(c *Create) { c.Name = "pre deployment" })},
		{"single-quoted name", `create --name 'it is "here"'`, defaultCreate(func(c *Create) { c.Name = `it is "here"` })},
		{"smart quotes from a phone", "create --name \u201cpre deployment\u201d", defaultCreate(func(c *Create) { c.Name = "pre deployment" })},
		{"em dash from a phone", "create \u2014type full", defaultCreate(func(c *Create) { c.Type = TypeFull })},
		{"non-breaking space", "create\u00a0--encrypt", defaultCreate(func(c *Create) { c.Encrypt = true })},
		{"name that starts with a dash via =", "create --name=-odd", defaultCreate(func(c *Create) { c.Name = "-odd" })},
		{"tags as a list", `create --tags "env=prod,team=infra"`, defaultCreate(func(c *Create) { c.Tags = []Tag{{"env", "prod"}, {"team", "infra"}} })},
		{"tags repeated", `create --tags env=prod --tags team=infra`, defaultCreate(func(c *Create) { c.Tags = []Tag{{"env", "prod"}, {"team", "infra"}} })},
		{"tag with empty value", `create --tags keep=`, defaultCreate(func(c *Create) { c.Tags = []Tag{{"keep", ""}} })},
		{"retention with a d suffix", "create --retention 30d", defaultCreate(func(c *Create) { c.Retention = 30 })},
		{"location override without --storage", "create --path /srv/repo", defaultCreate(func(c *Create) { c.Storage.Path = "/srv/repo" })},
		{"trailing comment", "create --type full # nightly", defaultCreate(func(c *Create) { c.Type = TypeFull })},
		{"restore by name and date", "restore --name x --date 2024-02-29", &Restore{Name: "x", Date: &Date{2024, time.February, 29}, Target: "all"}},
		{"restore short time", "restore --date 2025-01-15 --time 9:05 --to /tmp/r", &Restore{Date: &Date{2025, time.January, 15}, Time: &Clock{9, 5, 0}, Target: "all", To: "/tmp/r"}},
		{"list running jobs", "list --running", &List{Storage: StorageRef{Name: "all"}, Running: true}},
		{"list by target and name", `list --target data --name "pre deployment"`, &List{Storage: StorageRef{Name: "all"}, Target: "data", Name: "pre deployment"}},
		{"schedule defaults to list", "schedule", &Schedule{Op: ScheduleList}},
		{"schedule with @every", `schedule --action create --name hourly --cron "@every 1h" --type full`, &Schedule{Op: ScheduleCreate, Name: "hourly", Cron: "@every 1h", Type: TypeFull, Target: "all"}},
		{"schedule with descriptor", "schedule --action create --name d --cron @daily --target data", &Schedule{Op: ScheduleCreate, Name: "d", Cron: "@daily", Type: TypeIncremental, Target: "data"}},
		{"schedule delete", "schedule --action delete --name weekly", &Schedule{Op: ScheduleDelete, Name: "weekly"}},
		{"export 7z split in MiB", "export --name a --format 7z --split 500MiB", &Export{Name: "a", Format: Format7z, Split: 500 << 20}},
		{"export split 1.5GB", "export --name a --split 1.5GB", &Export{Name: "a", Format: FormatTar, Split: 1_500_000_000}},
		{"snapshot tags and expire suffix", `snapshot --tags "a=1" --tags b=2 --expire 48h`, &Snapshot{Resource: ResourceAll, Tags: []Tag{{"a", "1"}, {"b", "2"}}, Expire: 48}},
		{"test default storage", "test", &Test{}},
		{"test with verbose", "test --storage local --path ./repo --verbose", &Test{Diagnostics: Diagnostics{Verbose: true}, Storage: StorageRef{Name: "local", Path: "./repo"}}},
		{"status", "status 7f3a9c", &Status{JobID: "7f3a9c"}},
		{"cancel", "/backup cancel job-42", &Cancel{JobID: "job-42"}},
		{"approvals", "approvals", &Approvals{}},
		{"approvals withdraw", "approvals --withdraw 7f3a9c", &Approvals{Withdraw: "7f3a9c"}},
		{"audit", `audit --age 7 --user "alice smith"`, &Audit{Age: 7, User: "alice smith"}},
		{"analyze without name", "analyze --performance", &Analyze{Performance: true}},
		{"verify --all=false with a name", "verify --name a --all=false", &Verify{Name: "a"}},
		{"storage kind in another case", "create --storage Azure", defaultCreate(func(c *Create) { c.Storage.Name = "azure" })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkParse(t, tc.text, tc.want) })
	}
}

// checkParse checks that text parses to want.
func checkParse(t *testing.T, text string, want Command) {
	t.Helper()
	got, err := Parse(text)
	if err != nil {
		t.Fatalf("Parse(%q): %v", text, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse(%q)\n got %#v\nwant %#v", text, got, want)
	}
}

func TestParserKnowsConfiguredNames(t *testing.T) {
	p := Parser{Targets: []string{"web-root"}, Storages: []string{"offsite"}}
	got, err := p.Parse("create --target web-root --storage offsite")
	if err != nil {
		t.Fatalf("Parse with configured names: %v", err)
	}
	want := &Create{Type: TypeIncremental, Target: "web-root", Compress: true, Storage: StorageRef{Name: "offsite"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
	// The zero parser does not know them.
	if _, err := Parse("create --storage offsite"); err == nil {
		t.Fatal("the zero Parser accepted a configured storage name it cannot know")
	}
	// A configured storage name takes location overrides of any kind: its
	// kind is checked where the configuration is known.
	if _, err := p.Parse("create --storage offsite --bucket other-bucket"); err != nil {
		t.Fatalf("override on a configured storage: %v", err)
	}
	// And a configured name gets suggested.
	_, err = p.Parse("create --target web-rot")
	if e := asError(t, err); e.Suggestion != "web-root" {
		t.Fatalf("suggestion = %q, want web-root (error: %v)", e.Suggestion, err)
	}
}

func TestParseWordsTakesTerminalArguments(t *testing.T) {
	got, err := Parser{}.ParseWords([]string{"restore", "--name", "pre deployment", "--target", "config", "--preview"})
	if err != nil {
		t.Fatalf("ParseWords: %v", err)
	}
	want := &Restore{Name: "pre deployment", Target: "config", Preview: true}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
}

func TestValues(t *testing.T) {
	sizes := map[string]Size{
		"4GB": 4e9, "500MiB": 500 << 20, "1.5GB": 1.5e9, "10M": 10e6, "10m": 10e6, "1K": 1000, "1KiB": 1024,
		"2Ti": 2 << 40, "1.5KiB": 1536, "1.3B": 1, "7": 7, "1 GB": 1e9,
	}
	for in, want := range sizes {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
		if back, err := ParseSize(got.String()); err != nil || back != got {
			t.Errorf("ParseSize(%q.String() = %q) = %d, %v", in, got.String(), back, err)
		}
	}
	if s := Size(4e9).String(); s != "4GB" {
		t.Errorf("Size(4e9).String() = %q, want 4GB", s)
	}
	if s := Size(1536).String(); s != "1536B" {
		t.Errorf("Size(1536).String() = %q, want 1536B (neither KB nor KiB divides it)", s)
	}
	if d, err := ParseDate("2024-02-29"); err != nil || d.String() != "2024-02-29" {
		t.Errorf("ParseDate(leap day) = %v, %v", d, err)
	}
	if c, err := ParseClock("23:59:59"); err != nil || c.String() != "23:59:59" {
		t.Errorf("ParseClock = %v, %v", c, err)
	}
	if _, err := ParseCron("TZ=UTC"); err == nil {
		t.Error("ParseCron accepted a bare time zone")
	}
	if c, err := ParseCron("CRON_TZ=UTC 0 2 * * *"); err != nil || c != "CRON_TZ=UTC 0 2 * * *" {
		t.Errorf("ParseCron with a time zone = %q, %v", c, err)
	}
	sched, err := Cron("CRON_TZ=UTC @daily").Schedule()
	if err != nil {
		t.Fatalf("Cron.Schedule: %v", err)
	}
	from := time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC)
	if next := sched.Next(from); !next.Equal(time.Date(2025, 1, 16, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("@daily after %v = %v", from, next)
	}
}
