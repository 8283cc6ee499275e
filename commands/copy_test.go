package commands

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseCopy(t *testing.T) {
	p := Parser{Targets: []string{"data", "config"}, Storages: []string{"local", "offsite", "nas"}}
	cases := []struct {
		text string
		want *Copy
	}{
		{"copy --to offsite", &Copy{To: "offsite"}},
		{"/backup copy --name nightly --to offsite", &Copy{Name: "nightly", To: "offsite"}},
		{"copy --target data --storage local --to nas", &Copy{Target: "data", To: "nas", Storage: StorageRef{Name: "local"}}},
		{"copy --name=latest --to=s3 --debug", &Copy{Name: "latest", To: "s3", Diagnostics: Diagnostics{Debug: true}}},
	}
	for _, tc := range cases {
		got, err := p.Parse(tc.text)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.text, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Parse(%q) = %+v; want %+v", tc.text, got, tc.want)
		}
		// What Render gives parses back to the same command.
		again, err := p.Parse(Render(got))
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("Render(%q) = %q parses to %+v, %v", tc.text, Render(got), again, err)
		}
	}
}

func TestCopyRefusals(t *testing.T) {
	p := Parser{Targets: []string{"data"}, Storages: []string{"local", "offsite"}}
	for text, want := range map[string]string{
		"copy --name x":                       "copy needs --to",
		"copy --to ofsite":                    `not "ofsite"`,
		"copy --storage offsite --to offsite": "--to offsite is the storage the backup is in",
		"copy --to offsite --target dta":      "dta",
	} {
		_, err := p.Parse(text)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v; want an error saying %q", text, err, want)
		}
	}
}

func TestCopyHelpNamesItsOptions(t *testing.T) {
	text, err := HelpText("copy")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--to", "--name", "--target", "--storage", "Only the data the destination lacks travels"} {
		if !strings.Contains(text, want) {
			t.Errorf("help copy lacks %q:\n%s", want, text)
		}
	}
}
