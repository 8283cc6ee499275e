package commands

import (
	"errors"
	"strings"
	"testing"
)

func asError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *commands.Error", err, err)
	}
	return e
}

// badInputs are commands a user could type, each with what its error must
// say (every substring in contains) and suggest.
var badInputs = []struct {
	text       string
	contains   []string
	suggestion string
	flag       string
}{
	// actions
	{text: "crate --type full", contains: []string{`unknown action "crate"`, "/backup help"}, suggestion: "create"},
	{text: "/backup restor --name x", contains: []string{`unknown action "restor"`}, suggestion: "restore"},
	{text: "/backup lsit", contains: []string{`unknown action "lsit"`}, suggestion: "list"},
	{text: "/backup frobnicate", contains: []string{`unknown action "frobnicate"`, "lists the actions"}},
	{text: "help restory", contains: []string{`no action "restory"`}, suggestion: "restore"},
	{text: "help create restore", contains: []string{`unexpected word "restore"`}},
	// flags
	{text: "create --typ full", contains: []string{`unknown option "--typ" for create`}, suggestion: "--type", flag: "typ"},
	{text: "create --encrypted", contains: []string{`unknown option "--encrypted"`}, suggestion: "--encrypt", flag: "encrypted"},
	{text: "cleanup --dry_run", contains: []string{`unknown option "--dry_run" for cleanup`}, suggestion: "--dry-run"},
	{text: "cleanup --olderthan 30", contains: []string{`unknown option "--olderthan"`}, suggestion: "--older-than"},
	{text: "create --bogus", contains: []string{`unknown option "--bogus" for create`, "/backup help create"}},
	{text: "list --encrypt", contains: []string{"--encrypt is not an option of list", "It belongs to create"}, flag: "encrypt"},
	{text: "verify --preview", contains: []string{"--preview is not an option of verify", "belongs to restore"}},
	{text: "create --older-than 5", contains: []string{"--older-than is not an option of create", "belongs to cleanup"}},
	{text: "create --split 4GB", contains: []string{"--split is not an option of create", "belongs to export"}},
	{text: "status --name x", contains: []string{"--name is not an option of status", "create, restore"}},
	{text: "create -type full", contains: []string{`options start with two dashes, not "-type"`}, suggestion: "--type"},
	{text: "create --", contains: []string{"a bare -- is not an option"}},
	// values
	{text: "create --type fulll", contains: []string{`--type takes full, incremental or differential, not "fulll"`}, suggestion: "full", flag: "type"},
	{text: "create --type weekly", contains: []string{"--type takes full, incremental or differential", `"weekly"`}},
	{text: "create --target dta", contains: []string{"--target takes a target name (all, config, data, state, logs)", `"dta"`}, suggestion: "data"},
	{text: "create --storage azur", contains: []string{"--storage takes a storage name", `"azur"`}, suggestion: "azure"},
	{text: "create --storage remote", contains: []string{"--storage takes a storage name (local, network, azure, aws, s3)"}},
	{text: "create --storage all", contains: []string{"--storage takes a storage name", `not "all"`}},
	{text: "list --storage everywhere", contains: []string{"--storage takes a storage name (all, remote, local"}},
	{text: "export --name a --format rar", contains: []string{"--format takes tar, zip or 7z", `"rar"`}, suggestion: "tar"},
	{text: "snapshot --resource vms", contains: []string{"--resource takes vm, database, storage or all"}, suggestion: "vm"},
	{text: "schedule --action craete --name x", contains: []string{"--action takes create, update, delete or list"}, suggestion: "create"},
	{text: "create --compress=maybe", contains: []string{`--compress takes true or false, not "maybe"`}},
	{text: "create --compress false", contains: []string{`unexpected word "false"`, "--compress is a switch: write --compress=false"}},
	{text: "create full", contains: []string{`unexpected word "full"`}, suggestion: "--type full"},
	{text: "create encrypt", contains: []string{`unexpected word "encrypt"`}, suggestion: "--encrypt"},
	{text: "create now please", contains: []string{`unexpected word "now"`, "quote values with spaces"}},
	{text: "create --name", contains: []string{"--name needs a value", "--name TEXT"}, flag: "name"},
	{text: "create --name --encrypt", contains: []string{"--name needs a value"}},
	{text: "create --type", contains: []string{"--type needs a value", "full|incremental|differential"}},
	{text: `create --name ""`, contains: []string{"--name needs a value that is not empty"}},
	{text: "create --name \"a\x01b\"", contains: []string{"--name must not hold control characters"}},
	{text: "create --name " + strings.Repeat("n", 200), contains: []string{"--name is too long: at most 128"}},
	{text: "create --type full --type incremental", contains: []string{"--type is given twice"}, flag: "type"},
	{text: "create --retention -5", contains: []string{`--retention takes a whole number of days (0 or more), not "-5"`}},
	{text: "create --retention thirty", contains: []string{"--retention takes a whole number of days"}},
	{text: "create --retention 1000000", contains: []string{"--retention takes at most 36500"}},
	{text: "list --age 1.5", contains: []string{"--age takes a whole number of days"}},
	{text: "cleanup --keep-min many", contains: []string{"--keep-min takes a whole number (0 or more)"}},
	{text: "snapshot --expire 2d", contains: []string{"--expire takes a whole number of hours"}},
	{text: "export --name a --split 4XB", contains: []string{`--split "4XB" has an unknown unit "XB"`, "KiB"}},
	{text: "export --name a --split 0GB", contains: []string{"is not more than zero bytes"}},
	{text: "export --name a --split lots", contains: []string{`--split "lots" is not a size`}},
	{text: "export --name a --split 5PB", contains: []string{"unknown unit"}},
	{text: "export --name a --split 2000TB", contains: []string{"too big"}},
	{text: "restore --date 2025-02-30", contains: []string{`--date "2025-02-30" is not a date`, "YYYY-MM-DD"}},
	{text: "restore --date 15/01/2025", contains: []string{`--date "15/01/2025" is not a date`}},
	{text: "restore --date 2025-01-15 --time 25:00", contains: []string{`--time "25:00" is not a time of day`, "hours go to 23"}},
	{text: "restore --date 2025-01-15 --time noon", contains: []string{"write HH:MM or HH:MM:SS"}},
	{text: `schedule --action create --name x --cron "0 2 * *"`, contains: []string{`--cron "0 2 * *" is not a cron expression`, "five fields"}},
	{text: `schedule --action create --name x --cron "61 * * * *"`, contains: []string{"is not a cron expression"}},
	{text: `schedule --action create --name x --cron "@every 5s"`, contains: []string{"runs more often than once a minute"}},
	{text: `schedule --action create --name x --cron "TZ=Nowhere/City 0 2 * * *"`, contains: []string{"is not a cron expression"}},
	{text: "schedule --action create --name x --cron \"TZ=\n 0\"", contains: []string{"is not a cron expression", "control character"}},
	{text: "verify --name x --al", contains: []string{`unknown option "--al" for verify`}, suggestion: "--all"},
	{text: `create --tags "env"`, contains: []string{`--tags has a tag "env" with no value`}},
	{text: `create --tags "=prod"`, contains: []string{`--tags has a tag key "" that is not allowed`}},
	{text: `create --tags "a=1,,b=2"`, contains: []string{"--tags has an empty tag between commas"}},
	{text: `create --tags "a b=1"`, contains: []string{`tag key "a b" that is not allowed`}},
	{text: `create --tags a=1 --tags a=2`, contains: []string{`--tags gives tag "a" twice`}},
	{text: "create --bucket UPPER_case", contains: []string{"--bucket \"UPPER_case\" is not valid", "S3 bucket names"}},
	{text: "create --region mars", contains: []string{"regions look like us-east-1"}},
	{text: "status", contains: []string{"status needs a job id", "/backup status JOB"}},
	{text: "cancel a/b", contains: []string{`"a/b" is not valid: job ids are`}},
	{text: "status one two", contains: []string{`unexpected word "two"`}},
	// quoting
	{text: `create --name "pre deployment`, contains: []string{"a quote is not closed", "Put quotes in pairs"}},
	{text: `create --name 'x`, contains: []string{"a quote is not closed"}},
	{text: `create --name x\`, contains: []string{"the command ends with a lone backslash"}},
	// rules between options
	{text: "verify --name a --all", contains: []string{"--name and --all contradict each other"}, flag: "all"},
	{text: "verify --deep", contains: []string{"verify needs --name or --all"}},
	{text: "restore --preview", contains: []string{"restore needs --name or --date", "--name latest --preview"}},
	{text: "restore --name x --time 10:00", contains: []string{"--time needs --date"}, flag: "time"},
	{text: "schedule --action create --name daily", contains: []string{"schedule --action create needs --name and --cron"}},
	{text: `schedule --action create --cron "@daily"`, contains: []string{"needs --name and --cron"}},
	{text: "schedule --action update --name weekly", contains: []string{"schedule --action update has nothing to change"}},
	{text: "schedule --action update --retention 5", contains: []string{"schedule --action update needs --name"}},
	{text: "schedule --action delete", contains: []string{"schedule --action delete needs --name"}},
	{text: "schedule --action delete --name x --cron @daily", contains: []string{"--cron does not go with schedule --action delete"}, flag: "cron"},
	{text: `schedule --name daily --cron "@daily"`, contains: []string{"--cron does not go with schedule --action list", "create or update"}},
	{text: "export --format zip", contains: []string{"export needs --name"}},
	{text: "export --name a --format zip --split 1GB", contains: []string{"--split does not work with --format zip", "tar or 7z"}, flag: "split"},
	{text: "create --storage local --bucket my-bucket", contains: []string{"--bucket does not apply to --storage local", "use --path"}, flag: "bucket"},
	{text: "create --storage azure --path /x", contains: []string{"--path does not apply to --storage azure", "use --container"}},
	{text: "create --storage s3 --container abc", contains: []string{"--container does not apply to --storage s3", "--bucket or --region"}},
	{text: "list --storage remote --path /x", contains: []string{"--path does not apply to --storage remote"}},
	// size of the whole thing
	{text: "create --name " + strings.Repeat("x", 9000), contains: []string{"the command is too long"}},
}

func TestBadInputs(t *testing.T) {
	if len(badInputs) < 40 {
		t.Fatalf("only %d bad inputs; the issue asks for at least 40", len(badInputs))
	}
	for _, tc := range badInputs {
		name := tc.text
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			got, err := Parse(tc.text)
			if err == nil {
				t.Fatalf("Parse(%q) = %#v, want an error", tc.text, got)
			}
			e := asError(t, err)
			msg := err.Error()
			for _, want := range tc.contains {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
			if e.Suggestion != tc.suggestion {
				t.Errorf("suggestion = %q, want %q (error: %s)", e.Suggestion, tc.suggestion, msg)
			}
			if tc.suggestion != "" && !strings.Contains(msg, "did you mean `"+tc.suggestion+"`?") {
				t.Errorf("error %q does not offer the suggestion %q", msg, tc.suggestion)
			}
			if tc.flag != "" && e.Flag != tc.flag {
				t.Errorf("Flag = %q, want %q", e.Flag, tc.flag)
			}
			if strings.ContainsAny(msg, "\n\r") {
				t.Errorf("error is not one line: %q", msg)
			}
			if len(msg) > 400 {
				t.Errorf("error is %d bytes long; chat users want one short line: %q", len(msg), msg)
			}
		})
	}
}

func TestErrorNamesTheAction(t *testing.T) {
	_, err := Parse("restore --preview")
	if e := asError(t, err); e.Action != ActionRestore {
		t.Fatalf("Action = %q, want restore", e.Action)
	}
}

func TestSuggest(t *testing.T) {
	cases := []struct {
		word       string
		candidates []string
		want       string
	}{
		{"crate", []string{"create", "restore"}, "create"},
		{"lsit", []string{"list", "test"}, "list"},
		{"typ", []string{"type", "target"}, "type"},
		{"xyz", []string{"create", "restore"}, ""},
		{"ver", []string{"verify", "verbose"}, ""}, // an ambiguous prefix suggests nothing
		{"perf", []string{"performance", "path"}, "performance"},
		{"", []string{"a"}, ""},
	}
	for _, tc := range cases {
		if got := suggest(tc.word, tc.candidates); got != tc.want {
			t.Errorf("suggest(%q, %v) = %q, want %q", tc.word, tc.candidates, got, tc.want)
		}
	}
}
