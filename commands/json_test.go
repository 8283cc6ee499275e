package commands

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestJSONCarriesTheAction(t *testing.T) {
	c := &Restore{Name: "x", Date: &Date{2025, time.January, 15}, Time: &Clock{14, 30, 0}, Target: "all"}
	data, err := MarshalCommand(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"action":"restore","name":"x","date":"2025-01-15","time":"14:30:00","target":"all","storage":{}}`
	if string(data) != want {
		t.Fatalf("MarshalCommand = %s\nwant %s", data, want)
	}
	// json.Marshal of a value (not only a pointer) carries it too.
	plain, _ := json.Marshal(Status{JobID: "j1"})
	if string(plain) != `{"action":"status","job":"j1"}` {
		t.Fatalf("json.Marshal(Status) = %s", plain)
	}
	empty, _ := json.Marshal(Approvals{})
	if string(empty) != `{"action":"approvals"}` {
		t.Fatalf("json.Marshal(Approvals{}) = %s", empty)
	}
	size, _ := json.Marshal(Export{Name: "a", Format: FormatTar, Split: 4e9})
	if !strings.Contains(string(size), `"split":4000000000`) {
		t.Fatalf("Size is not integer bytes: %s", size)
	}
}

func TestJSONRoundTripOfEveryAction(t *testing.T) {
	for _, a := range Actions() {
		text := map[Action]string{
			ActionRestore:  "restore --name x --date 2025-01-15 --time 10:00 --storage s3 --bucket my-bucket",
			ActionVerify:   "verify --all --deep",
			ActionExport:   "export --name x --split 1GiB --checksum",
			ActionCopy:     "copy --name x --target data --to azure --storage local",
			ActionSchedule: "schedule --action create --name d --cron @daily",
			ActionStatus:   "status j1",
			ActionCancel:   "cancel j1",
			ActionCreate:   "create --tags a=1,b=2 --retention 7 --compress=false",
			ActionSnapshot: "snapshot --tags a=1 --expire 4",
		}[a]
		if text == "" {
			text = string(a)
		}
		c, err := Parse(text)
		if err != nil {
			t.Fatalf("Parse(%q): %v", text, err)
		}
		if data := checkJSONRoundTrip(t, c); !strings.HasPrefix(string(data), `{"action":"`+string(a)+`"`) {
			t.Errorf("%s encodes without its action first: %s", a, data)
		}
	}
}

func TestUnmarshalCommandErrors(t *testing.T) {
	for _, in := range []string{`{}`, `{"action":"explode"}`, `not json`, `{"action":"restore","date":"2025-02-30"}`, `{"action":"restore","time":5}`} {
		if c, err := UnmarshalCommand([]byte(in)); err == nil {
			t.Errorf("UnmarshalCommand(%s) = %#v, want an error", in, c)
		}
	}
	if _, err := MarshalCommand(nil); err == nil {
		t.Error("MarshalCommand(nil) did not fail")
	}
}
