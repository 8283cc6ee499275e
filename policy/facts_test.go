package policy

import (
	"strings"
	"testing"

	"github.com/backupbot/backupbot/commands"
)

// TestEveryFlagDeclaresAPolicyFact walks the command table: every flag of
// every action must declare a policy fact the policy knows. A flag added
// without one (flagSpec.fact / .as(kind) in commands/actions.go) fails here.
func TestEveryFlagDeclaresAPolicyFact(t *testing.T) {
	schema := commands.Schema{}
	actions := schema.Actions()
	if len(actions) < 15 {
		t.Fatalf("the command table lists %d actions, want at least the 15 of the reference", len(actions))
	}
	nflags := 0
	for _, a := range actions {
		flags, ok := schema.Flags(a)
		if !ok {
			t.Errorf("action %s is listed but has no definition", a)
			continue
		}
		for _, f := range flags {
			nflags++
			if f.Kind == commands.FactUndeclared {
				t.Errorf("%s --%s declares no policy fact: add one beside the flag in commands/actions.go", a, f.Flag)
			}
		}
	}
	if nflags < 50 {
		t.Fatalf("walked %d flags, want the table's (at least 50)", nflags)
	}
	// Every action's default command is judged by the policy, not denied
	// for an unknown fact.
	for _, a := range actions {
		flags, _ := schema.Flags(a)
		f := factsOf(schema, defaultCommand(t, a))
		if f.unknown != "" {
			t.Errorf("the policy does not know %s (flags %v)", f.unknown, flags)
		}
	}
}

func defaultCommand(t *testing.T, a commands.Action) commands.Command {
	t.Helper()
	c, err := commands.UnmarshalCommand([]byte(`{"action":"` + string(a) + `"}`))
	if err != nil {
		t.Fatalf("decoding an empty %s command: %v", a, err)
	}
	return c
}

// frobnicate is an action the command table does not have.
type frobnicate struct{}

func (frobnicate) Action() commands.Action { return "frobnicate" }

func TestUnknownActionIsDeniedNamingIt(t *testing.T) {
	p := loadTestPolicy(t)
	d := p.Decide(slackUser("UADMIN"), "#ops", frobnicate{})
	if d.Allowed || d.Rule != RuleUnknownFact || !strings.Contains(d.Reason, "frobnicate") {
		t.Fatalf("admin running an unknown action: %+v, want denied by %q naming frobnicate", d, RuleUnknownFact)
	}
}

// TestNewFlagIsDeniedUntilItDeclaresAFact adds a flag to create (in a
// derived schema; the table other tests read is untouched): an admin's
// create is denied, naming the flag, until the flag declares a fact.
func TestNewFlagIsDeniedUntilItDeclaresAFact(t *testing.T) {
	p := loadTestPolicy(t)
	admin := slackUser("UADMIN")
	cmd := create(commands.TypeFull, "data", "")
	if d := p.Decide(admin, "#ops", cmd); !d.Allowed {
		t.Fatalf("admin create before the new flag: %+v, want allowed", d)
	}

	p.schema = commands.Schema{}.WithTestFlag(commands.ActionCreate, "frobnicate", commands.FactUndeclared)
	d := p.Decide(admin, "#ops", cmd)
	if d.Allowed || d.Rule != RuleUnknownFact || !strings.Contains(d.Reason, "--frobnicate") {
		t.Fatalf("create with an undeclared --frobnicate: %+v, want denied by %q naming --frobnicate", d, RuleUnknownFact)
	}
	if err := p.Recheck("7f3a9c", admin, "#ops", cmd); err == nil || !strings.Contains(err.Error(), "--frobnicate") {
		t.Fatalf("worker recheck with an undeclared flag: %v, want a refusal naming it", err)
	}
	// A fact kind the policy does not know is denied as well.
	p.schema = commands.Schema{}.WithTestFlag(commands.ActionCreate, "frobnicate", "colour")
	if d := p.Decide(admin, "#ops", cmd); d.Allowed || !strings.Contains(d.Reason, "colour") {
		t.Fatalf("create with --frobnicate of an unknown fact kind: %+v, want denied naming the kind", d)
	}
	// Other actions are not affected by create's new flag.
	if d := p.Decide(admin, "#ops", &commands.List{}); !d.Allowed {
		t.Fatalf("list while create has an undeclared flag: %+v, want allowed", d)
	}

	p.schema = commands.Schema{}.WithTestFlag(commands.ActionCreate, "frobnicate", commands.FactSwitch)
	d = p.Decide(admin, "#ops", cmd)
	if !d.Allowed {
		t.Fatalf("create once --frobnicate declares a switch fact: %+v, want allowed", d)
	}
	if f := factsOf(p.schema, cmd); !f.flags["frobnicate"] {
		t.Fatalf("declared switch --frobnicate reads as %v in the facts, want true", f.flags)
	}

	// The table itself never saw the test flag.
	flags, _ := commands.Schema{}.Flags(commands.ActionCreate)
	for _, f := range flags {
		if f.Flag == "frobnicate" {
			t.Fatalf("the test flag leaked into the command table")
		}
	}
}
