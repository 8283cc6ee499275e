package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
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

func TestHolderReloadKeepsOldPolicyOnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backupbot.yaml")
	writeConfig(t, path, goodPolicy)
	var h Holder
	if err := h.Load(path); err != nil {
		t.Fatalf("Load: %v", err)
	}
	u := slackUser("U1")
	if d := h.Decide(u, "#general", &commands.List{}); !d.Allowed {
		t.Fatalf("list denied under the loaded policy: %+v", d)
	}

	writeConfig(t, path, strings.Replace(goodPolicy, "[help, list]\n", "[help, list]\n      - actions: [explode]\n", 1))
	err := h.Reload()
	if err == nil || !strings.Contains(err.Error(), path+":7") || !strings.Contains(err.Error(), `unknown action "explode"`) {
		t.Fatalf("Reload of a bad file: got %v; want an error naming %s:7 and the unknown action", err, path)
	}
	if d := h.Decide(u, "#general", &commands.List{}); !d.Allowed {
		t.Errorf("the old policy was not kept after a refused reload: %+v", d)
	}

	writeConfig(t, path, strings.Replace(goodPolicy, "[help, list]", "[help]", 1))
	if err := h.Reload(); err != nil {
		t.Fatalf("Reload of a good file: %v", err)
	}
	if d := h.Decide(u, "#general", &commands.List{}); d.Allowed {
		t.Errorf("the reloaded policy is not in force: list still allowed by %s", d.Rule)
	}
}

func TestZeroHolderDeniesAndFileWithoutPolicyGetsDefault(t *testing.T) {
	var h Holder
	if d := h.Decide(consoleUser("root"), "console", &commands.Help{}); d.Allowed {
		t.Errorf("an empty Holder allowed a command: %+v", d)
	}
	if err := h.Reload(); err == nil {
		t.Error("Reload without Load succeeded")
	}
	path := filepath.Join(t.TempDir(), "backupbot.yaml")
	writeConfig(t, path, "storages:\n  local: {type: local, path: ./var/repo}\n")
	if err := h.Load(path); err != nil {
		t.Fatal(err)
	}
	if d := h.Decide(consoleUser("root"), "console", &commands.Help{}); !d.Allowed || d.Rule != "role admin rule 1" {
		t.Errorf("a file without a policy section: console user got %+v; want admin", d)
	}
}
