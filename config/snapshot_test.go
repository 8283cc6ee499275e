package config

import (
	"strings"
	"testing"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/policy"
)

// One read of the file gives the configuration, its policy (with the
// configured locations) and a parser that knows its names; any error in
// any part, the policy included, names the file and the line, and gives
// no snapshot at all.
func TestLoadSnapshotIsAllOrNothing(t *testing.T) {
	body := goodConfig + `policy:
  bindings:
    operator: ["slack:U0OPS"]
`
	s, err := LoadSnapshot(writeConfig(t, body))
	if err != nil {
		t.Fatalf("LoadSnapshot: %v", err)
	}
	if len(s.Version) != 12 || s.Version == VersionEmbedded {
		t.Errorf("version %q, want the file's 12-digit hash", s.Version)
	}
	ops := policy.Identity{Platform: "slack", UserID: "U0OPS"}
	if d := s.Policy.Decide(ops, "#ops", &commands.List{}); !d.Allowed {
		t.Errorf("the file's bindings are not in the snapshot's policy: %+v", d)
	}
	if got := s.Policy.Locations(); len(got) != 3 { // ./var/repo, /etc/myapp, /srv/data
		t.Errorf("policy locations %v, want the local storage and both targets", got)
	}
	if _, err := s.Parser().Parse("create --target data --storage offsite"); err != nil {
		t.Errorf("the snapshot's parser refuses a configured target and storage: %v", err)
	}

	for _, tc := range []struct{ name, body, want string }{
		{"unknown key", strings.Replace(body, "  data: {paths: [/srv/data]}", "  data: {paths: [/srv/data], exlude: [x]}", 1), `line 8: unknown key "targets.data.exlude"`},
		{"bad policy rule", body + "  roles:\n    operator:\n      - actions: [restor]\n", `:14`},
		{"bad storage", strings.Replace(body, "type: azure", "type: azur", 1), "line 5"},
	} {
		s, err := LoadSnapshot(writeConfig(t, tc.body))
		if err == nil || s != nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "backupbot.yaml") {
			t.Errorf("%s: snapshot %v, error %v; want no snapshot and an error naming the file and %q", tc.name, s, err, tc.want)
		}
	}
}

// Admit refuses, before anything is queued, what the worker would refuse
// for this configuration, with the closest configured name.
func TestAdmitChecksNamesAgainstTheConfiguration(t *testing.T) {
	f, err := Load(writeConfig(t, goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ text, want string }{
		{"create --target logs", "unknown target `logs`"},
		{"create --target data --storage network", "no network storage is configured"},
		{"list --storage offsit", "did you mean `offsite`?"},
		{"snapshot --resource database", "no databases are configured"},
		{"snapshot --resource vm", "not supported"},
		{"create --target data", ""},
		{"create --storage s3 --bucket other --target config", ""},
		{"list --storage remote", ""},
		{"restore --name x --target logs --preview", ""}, // restores read the backup's own target name
	} {
		cmd, err := commands.Parser{Storages: []string{"offsit"}}.Parse(tc.text) // offsit: a name the parser lets through
		if err != nil {
			t.Fatalf("%s: %v", tc.text, err)
		}
		err = f.Admit(cmd)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.text, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want a refusal with %q", tc.text, err, tc.want)
		}
	}
}
