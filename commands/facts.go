package commands

import (
	"fmt"
	"reflect"
	"slices"
)

// FactKind says what a flag means to the policy. Every flag in the action
// table declares one beside its definition (flagSpec.fact, or .as(kind));
// the policy reads these instead of keeping its own list, and denies a
// command with a flag whose fact is not declared or not known to it.
type FactKind string

// Fact kinds. A new kind must be taught to the policy (policy/facts.go),
// which denies a kind it does not know.
const (
	// FactUndeclared is the zero value: the flag declares nothing, and the
	// policy denies every command of its action.
	FactUndeclared FactKind = ""
	// FactNone: no rule condition tests the flag (names, dates, sizes,
	// tags); it never widens what a command may touch.
	FactNone FactKind = "none"
	// FactSwitch: a rule's flags map tests it by the flag's name; it is
	// true when the flag is set to anything but false.
	FactSwitch FactKind = "switch"
	// FactTarget: the value is the target a rule's targets list tests.
	FactTarget FactKind = "target"
	// FactStorage: the value is the storage a rule's storages list tests.
	FactStorage FactKind = "storage"
	// FactType: the value is the backup type a rule's types list tests.
	FactType FactKind = "type"
	// FactResource: the value is the resource a rule's resources list tests.
	FactResource FactKind = "resource"
	// FactPath: the value is a filesystem path the command reads or
	// writes (--path, --destination, --to).
	FactPath FactKind = "path"
	// FactLocation: the value locates a remote storage (--container,
	// --bucket, --region) within the storage the storage fact names.
	FactLocation FactKind = "location"
)

// FlagFact is one flag of a command as the policy sees it.
type FlagFact struct {
	// Flag is the flag's name without dashes.
	Flag string
	// Kind is the fact the flag declares (FactUndeclared when none).
	Kind FactKind
	// Value is the command's value as text ("" when unset, "false" for a
	// switch that is off).
	Value string
}

// Schema is the action table as code outside this package reads it: the
// actions and each one's flags with their policy facts. The zero Schema is
// the table itself; WithTestFlag derives one with an extra flag, so a test
// can check that code reading the schema notices a new flag without
// changing the table other tests see.
type Schema struct {
	extra []extraFlag
}

type extraFlag struct {
	action Action
	name   string
	fact   FactKind
}

// WithTestFlag returns a copy of s in which action a has one more flag,
// name, set to true in every command and declaring fact (FactUndeclared
// for none). It is for tests; s itself is unchanged.
func (s Schema) WithTestFlag(a Action, name string, fact FactKind) Schema {
	return Schema{extra: append(slices.Clone(s.extra), extraFlag{a, name, fact})}
}

// Actions lists every action of the schema.
func (s Schema) Actions() []Action { return Actions() }

// FlagFacts lists every flag of the action cmd is (whether cmd sets it or
// not) with its declared fact and cmd's value. It fails for a command
// whose action is not in the table.
func (s Schema) FlagFacts(cmd Command) ([]FlagFact, error) {
	if cmd == nil {
		return nil, fmt.Errorf("no command given")
	}
	spec, ok := actionTableByName[cmd.Action()]
	if !ok {
		return nil, fmt.Errorf("action %q is not in the command table", cmd.Action())
	}
	// A command of another type claiming the action (not one the table
	// makes) has no known flags: fail rather than misread it.
	if want := reflect.TypeOf(spec.newCommand()); reflect.TypeOf(cmd) != want {
		return nil, fmt.Errorf("a %T is not the %s command the table knows (%s)", cmd, cmd.Action(), want)
	}
	var out []FlagFact
	for _, f := range spec.flags(Parser{}, cmd) {
		out = append(out, FlagFact{Flag: f.name, Kind: f.fact, Value: f.value.get()})
	}
	for _, x := range s.extra {
		if x.action == spec.action {
			out = append(out, FlagFact{Flag: x.name, Kind: x.fact, Value: "true"})
		}
	}
	return out, nil
}

// Flags lists action a's flags with their declared facts (values are the
// defaults). The bool is false when a is not in the table.
func (s Schema) Flags(a Action) ([]FlagFact, bool) {
	spec, ok := actionTableByName[a]
	if !ok {
		return nil, false
	}
	out, _ := s.FlagFacts(spec.newCommand())
	return out, true
}
