package commands

import (
	"reflect"
	"strings"
	"testing"
)

// TestRestoreTestFlags: verify --restore-test and --sample parse into the
// command, render back to text that parses the same, and the rules between
// them and the other verify options hold; schedule --type restore-test is
// a recovery-drill schedule.
func TestRestoreTestFlags(t *testing.T) {
	good := map[string]Command{
		"verify --restore-test --all":                                                &Verify{All: true, RestoreTest: true},
		"verify --restore-test --name nightly --sample 5%":                           &Verify{Name: "nightly", RestoreTest: true, Sample: 5},
		"verify --restore-test --all --sample 2.5":                                   &Verify{All: true, RestoreTest: true, Sample: 2.5},
		"verify --restore-test --all --sample=100%":                                  &Verify{All: true, RestoreTest: true, Sample: 100},
		`schedule --action create --name drill --cron "@weekly" --type restore-test`: &Schedule{Op: ScheduleCreate, Name: "drill", Cron: "@weekly", Kind: ScheduleRestoreTest, Type: TypeIncremental, Target: "all"},
		`schedule --action create --name drill --cron "@weekly" --kind restore-test`: &Schedule{Op: ScheduleCreate, Name: "drill", Cron: "@weekly", Kind: ScheduleRestoreTest, Type: TypeIncremental, Target: "all"},
		`schedule --action create --name d --cron "@daily" --type full`:              &Schedule{Op: ScheduleCreate, Name: "d", Cron: "@daily", Type: TypeFull, Target: "all"},
	}
	for text, want := range good {
		got, err := Parse(text)
		if err != nil {
			t.Errorf("Parse(%q): %v", text, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%q)\n got %#v\nwant %#v", text, got, want)
		}
		back, err := Parse(Render(got))
		if err != nil || !reflect.DeepEqual(back, got) {
			t.Errorf("Render(%q) = %q reads back as %#v, %v", text, Render(got), back, err)
		}
	}
	bad := map[string]string{
		"verify --restore-test --all --sample 0":                           "above 0",
		"verify --restore-test --all --sample 101%":                        "at most 100",
		"verify --restore-test --all --sample lots":                        "percentage",
		"verify --all --sample 5%":                                         "--sample needs --restore-test",
		"verify --restore-test --all --deep":                               "--deep does not go with --restore-test",
		"verify --restore-test --all --fix":                                "--fix does not go with --restore-test",
		"verify --restore-test":                                            "needs --name or --all",
		`schedule --action create --name d --cron "@daily" --type restore`: "restore-test",
	}
	for text, want := range bad {
		_, err := Parse(text)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error saying %q", text, err, want)
		}
	}
	h, err := HelpText("verify")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--restore-test", "--sample PERCENT", "RTO"} {
		if !strings.Contains(h, want) {
			t.Errorf("verify's help lacks %q:\n%s", want, h)
		}
	}
	if h, _ := HelpText("schedule"); !strings.Contains(h, "restore-test") {
		t.Errorf("schedule's help does not mention restore-test:\n%s", h)
	}
}
