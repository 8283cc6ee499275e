package commands

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzParse checks that no input panics the parser, that every error is a
// one-line *Error, and that every accepted command survives rendering and
// JSON: Parse(Render(c)) and UnmarshalCommand(MarshalCommand(c)) deep-equal c.
// Run it with: go test ./commands -run '^$' -fuzz '^FuzzParse$' -fuzztime 20s
func FuzzParse(f *testing.F) {
	for _, tc := range referenceExamples {
		f.Add(tc.text)
	}
	for _, tc := range badInputs {
		f.Add(tc.text)
	}
	for _, s := range []string{
		"", "help", "--help", "create --name=-x", `create --name "it's \"quoted\""`, "create --name '#hash'",
		"create \u2014name \u2014odd", "status 7f3a9c", "schedule --action create --name d --cron 'CRON_TZ=UTC @daily'",
		"restore --date 2025-01-15 --time 9:05 --to '/tmp/a b'", `create --tags "k=v=w, x=" --tags y=1`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		checkRoundTrip(t, Parser{}, text)
		checkRoundTrip(t, Parser{Targets: []string{"web"}, Storages: []string{"offsite"}}, text)
	})
}

func checkRoundTrip(t *testing.T, p Parser, text string) {
	t.Helper()
	c, err := p.Parse(text)
	if err != nil {
		e := asError(t, err)
		if strings.ContainsAny(e.Error(), "\n\r") {
			t.Fatalf("Parse(%q): error is not one line: %q", text, e.Error())
		}
		return
	}
	rendered := Render(c)
	again, err := p.Parse(rendered)
	if err != nil {
		t.Fatalf("Parse(%q) = %#v\nRender = %q\nwhich does not parse: %v", text, c, rendered, err)
	}
	if !reflect.DeepEqual(c, again) {
		t.Fatalf("Parse(%q) = %#v\nRender = %q\nparses to %#v", text, c, rendered, again)
	}
	checkJSONRoundTrip(t, c)
}

// checkJSONRoundTrip checks that c comes back the same from
// MarshalCommand and UnmarshalCommand, and returns its JSON.
func checkJSONRoundTrip(t *testing.T, c Command) []byte {
	t.Helper()
	data, err := MarshalCommand(c)
	if err != nil {
		t.Fatalf("MarshalCommand(%#v): %v", c, err)
	}
	back, err := UnmarshalCommand(data)
	if err != nil {
		t.Fatalf("UnmarshalCommand(%s): %v", data, err)
	}
	if !reflect.DeepEqual(c, back) {
		t.Fatalf("JSON %s decodes to %#v, want %#v", data, back, c)
	}
	return data
}

func TestRoundTripOfEveryTestedInput(t *testing.T) {
	for _, tc := range referenceExamples {
		checkRoundTrip(t, Parser{}, tc.text)
	}
	for _, tc := range badInputs {
		checkRoundTrip(t, Parser{}, tc.text)
	}
}
