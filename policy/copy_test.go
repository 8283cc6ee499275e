package policy

import (
	"testing"

	"github.com/backupbot/backupbot/commands"
)

// A rule that limits storages limits both sides of a copy: the storage
// the backup is read from and the one it is written to.
func TestCopyChecksBothStorages(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Roles["local-only"] = []Rule{{Actions: []string{"copy"}, Storages: []string{"local", "nas"}}}
	cfg.Bindings = map[string][]string{"local-only": {"slack:U0LO"}, "operator": {"slack:U0OP"}}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	parser := commands.Parser{Targets: []string{"data"}, Storages: []string{"local", "nas", "offsite"}}
	for text, want := range map[string]bool{
		"copy --storage local --to nas":     true,
		"copy --storage local --to offsite": false,
		"copy --storage offsite --to nas":   false,
	} {
		cmd, err := parser.Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		if d := p.Decide(slackUser("U0LO"), "#ops", cmd); d.Allowed != want {
			t.Errorf("%q: allowed %v; want %v (%s)", text, d.Allowed, want, d.Reason)
		}
		if d := p.Decide(slackUser("U0OP"), "#ops", cmd); !d.Allowed {
			t.Errorf("%q: the default operator role is refused (%s)", text, d.Reason)
		}
	}
}
