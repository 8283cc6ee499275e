package policy

import (
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/backupbot/backupbot/commands"
)

func writeConfig(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

const goodPolicy = `storages:
  local: {type: local, path: ./var/repo}
policy:
  roles:
    viewer:
      - actions: [help, list]
  bindings:
    viewer: ["slack:*"]
`

func TestParseRefusesWithLineAndReason(t *testing.T) {
	cases := []struct {
		name, yaml string
		line       int
		reason     string
	}{
		{"yaml syntax", "policy:\n  roles:\n    viewer: [\n", 3, "did not find expected node content"},
		{"unknown key inside policy", "storages: {}\npolicy:\n  roles:\n    viewer:\n      - actions: [help]\n        chanels: [\"#ops\"]\n", 6, "field chanels not found"},
		{"unknown action", "policy:\n  roles:\n    operator:\n      - actions: [help]\n      - actions: [restor]\n", 5, `unknown action "restor"`},
		{"unknown flag", "policy:\n  roles:\n    operator:\n      - actions: [cleanup]\n        flags: {forse: true}\n", 5, `unknown flag "forse"`},
		{"binding to undefined role", "policy:\n  roles:\n    viewer:\n      - actions: [help]\n  bindings:\n    viewr: [\"*\"]\n", 6, `binds role "viewr", which is not defined`},
		{"bad subject", "policy:\n  roles:\n    viewer:\n      - actions: [help]\n  bindings:\n    viewer: [\"U123\"]\n", 6, `subject "U123" is not of the form`},
		{"bad ttl", "policy:\n  approval:\n    ttl: soon\n", 3, "cannot unmarshal"},
		{"approver role undefined", "policy:\n  roles:\n    viewer:\n      - actions: [help]\n  approval:\n    approvers: [boss]\n", 6, `role "boss" is not defined`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Parse: got %v; want a *ConfigError", err)
			}
			if ce.Line != tc.line || !strings.Contains(ce.Reason, tc.reason) {
				t.Errorf("got line %d reason %q; want line %d reason containing %q", ce.Line, ce.Reason, tc.line, tc.reason)
			}
		})
	}
}

func TestZeroHolderDeniesAndHolderFuncReadsItsSource(t *testing.T) {
	var h Holder
	if d := h.Decide(consoleUser("root"), "console", &commands.Help{}); d.Allowed {
		t.Errorf("an empty Holder allowed a command: %+v", d)
	}
	viewers, err := Parse([]byte(goodPolicy))
	if err != nil {
		t.Fatal(err)
	}
	var current atomic.Pointer[Policy]
	f := HolderFunc(current.Load)
	u := slackUser("U1")
	if d := f.Decide(u, "#general", &commands.List{}); d.Allowed {
		t.Errorf("a Holder whose source has no policy yet allowed a command: %+v", d)
	}
	current.Store(viewers)
	if d := f.Decide(u, "#general", &commands.List{}); !d.Allowed {
		t.Errorf("the source's policy is not in force: %+v", d)
	}
	current.Store(Default())
	if d := f.Decide(u, "#general", &commands.List{}); d.Allowed {
		t.Errorf("a swapped source policy is not in force: list still allowed by %s", d.Rule)
	}
}
