package policy

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/backupbot/backupbot/commands"
)

// facts are the parts of a command that rules test, read from the
// command table's declared facts (commands.Schema), not from a list kept
// here. A nil pointer means the action does not have that attribute, so
// conditions on it are ignored. unknown, when set, names what the policy
// does not know (an action, a flag without a declared fact, a fact kind):
// such a command is denied whatever the rules say.
type facts struct {
	action   string
	target   *string
	storage  *string
	btype    *string
	resource *string
	// alsoStorages are the values of further storage flags (copy --to
	// beside --storage): a rule's storages list must allow each of them
	// too.
	alsoStorages []string
	flags        map[string]bool
	// paths are the locations typed into the command (the values of
	// path flags: --path of a storage, restore --to, export
	// --destination), cleaned.
	paths []string
	// locations are the directories the configuration names (set by
	// Decide from the policy); ignorePaths skips the path condition (to
	// explain a denial).
	locations   []string
	ignorePaths bool
	// matcher is set when rules are used as matchers (approval,
	// confirmation), not as grants.
	matcher bool
	// unknown names what this code does not know (an action not in the
	// command table, a flag without a policy fact): no rule allows it
	// (fail closed).
	unknown string
}

// factDefaults are the values an unset fact reads as, so rules can name
// them ("all" targets, the "default" storage, "any" type).
var factDefaults = map[commands.FactKind]string{
	commands.FactTarget:   "all",
	commands.FactStorage:  "default",
	commands.FactType:     "any",
	commands.FactResource: string(commands.ResourceAll),
}

func factsOf(schema commands.Schema, cmd commands.Command) facts {
	f := facts{action: string(cmd.Action()), flags: map[string]bool{}}
	flags, err := schema.FlagFacts(cmd)
	if err != nil {
		f.unknown = fmt.Sprintf("the action %s", f.action)
		return f
	}
	for _, ff := range flags {
		switch ff.Kind {
		case commands.FactTarget, commands.FactStorage, commands.FactType, commands.FactResource:
			v := ff.Value
			if v == "" {
				v = factDefaults[ff.Kind]
			}
			switch ff.Kind {
			case commands.FactTarget:
				f.target = &v
			case commands.FactStorage:
				if f.storage != nil {
					f.alsoStorages = append(f.alsoStorages, v)
					continue
				}
				f.storage = &v
			case commands.FactType:
				f.btype = &v
			case commands.FactResource:
				f.resource = &v
			}
		case commands.FactSwitch:
			f.flags[ff.Flag] = ff.Value != "" && ff.Value != "false"
		case commands.FactPath:
			if p := cleanPath(ff.Value); p != "" {
				f.paths = append(f.paths, p)
			}
		case commands.FactNone, commands.FactLocation:
		case commands.FactUndeclared:
			if f.unknown == "" {
				f.unknown = fmt.Sprintf("the option --%s of %s (it declares no policy fact)", ff.Flag, f.action)
			}
		default:
			if f.unknown == "" {
				f.unknown = fmt.Sprintf("the option --%s of %s (its policy fact %q is not one the policy knows)", ff.Flag, f.action, ff.Kind)
			}
		}
	}
	return f
}

// describe renders the facts rules look at, for messages:
// "restore --target config --force".
func (f facts) describe() string {
	parts := []string{f.action}
	if f.target != nil && *f.target != "all" {
		parts = append(parts, "--target "+*f.target)
	}
	if f.storage != nil && *f.storage != "default" {
		parts = append(parts, "--storage "+*f.storage)
	}
	for _, s := range f.alsoStorages {
		parts = append(parts, "and storage "+s)
	}
	if f.btype != nil && *f.btype != "any" {
		parts = append(parts, "--type "+*f.btype)
	}
	if f.resource != nil {
		parts = append(parts, "--resource "+*f.resource)
	}
	for _, p := range f.paths {
		parts = append(parts, "at "+p)
	}
	var on []string
	for name, v := range f.flags {
		if v && name != "verbose" && name != "debug" {
			on = append(on, "--"+name)
		}
	}
	sort.Strings(on)
	return strings.Join(append(parts, on...), " ")
}

// matches reports whether the rule's conditions hold for the command typed
// in channel; with anyChannel the channel condition is not checked.
func (r Rule) matches(f facts, channel string, anyChannel bool) bool {
	if !inList(r.Actions, f.action) {
		return false
	}
	grant := r.Effect != Deny && !f.matcher
	if grant && f.unknown != "" {
		return false // a command whose facts are not known is never allowed
	}
	if !r.pathsMatch(f, grant) {
		return false
	}
	for _, s := range f.alsoStorages {
		if !condition(r.Storages, &s) {
			return false
		}
	}
	if !condition(r.Targets, f.target) || !condition(r.Storages, f.storage) ||
		!condition(r.Types, f.btype) || !condition(r.Resources, f.resource) {
		return false
	}
	if !anyChannel && len(r.Channels) > 0 {
		// A platform that knows a channel's ID and its name passes both as
		// "ID|name"; a rule may name either.
		aliases := strings.Split(channel, "|")
		if !slices.ContainsFunc(r.Channels, func(c string) bool {
			return c == "*" || slices.ContainsFunc(aliases, func(a string) bool { return normalizeChannel(c) == normalizeChannel(a) })
		}) {
			return false
		}
	}
	for name, want := range r.Flags {
		if f.flags[name] != want {
			return false
		}
	}
	return true
}

func condition(list []string, value *string) bool {
	if len(list) == 0 || value == nil {
		return true
	}
	return inList(list, *value)
}

func inList(list []string, v string) bool {
	return slices.ContainsFunc(list, func(s string) bool { return s == "*" || s == v })
}

func normalizeChannel(c string) string {
	return strings.ToLower(strings.TrimPrefix(strings.TrimSpace(c), "#"))
}
