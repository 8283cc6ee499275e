package policy

import (
	"slices"
	"sort"
	"strings"

	"github.com/backupbot/backupbot/commands"
)

// facts are the parts of a command that rules test. A nil pointer means
// the action does not have that attribute, so conditions on it are ignored.
type facts struct {
	action   string
	target   *string
	storage  *string
	btype    *string
	resource *string
	flags    map[string]bool
	// paths are the locations typed into the command (--path of a
	// storage, restore --to, export --destination), cleaned.
	paths []string
	// locations are the directories the configuration names (set by
	// Decide from the policy); ignorePaths skips the path condition (to
	// explain a denial).
	locations   []string
	ignorePaths bool
	// matcher is set when rules are used as matchers (approval,
	// confirmation), not as grants.
	matcher bool
	// unknown is set for a command type this code does not know: no
	// allow rule matches it (fail closed).
	unknown bool
}

func factsOf(cmd commands.Command) facts {
	f := facts{action: string(cmd.Action()), flags: map[string]bool{}}
	target := func(v string) {
		if v == "" {
			v = "all"
		}
		f.target = &v
	}
	path := func(p string) {
		if p = cleanPath(p); p != "" {
			f.paths = append(f.paths, p)
		}
	}
	storage := func(ref commands.StorageRef) {
		path(ref.Path)
		v := ref.Name
		if v == "" {
			v = "default"
		}
		f.storage = &v
	}
	btype := func(t commands.BackupType) {
		v := string(t)
		if v == "" {
			v = "any"
		}
		f.btype = &v
	}
	diag := func(d commands.Diagnostics) {
		f.flags["verbose"] = d.Verbose
		f.flags["debug"] = d.Debug
	}
	switch c := cmd.(type) {
	case *commands.Create:
		diag(c.Diagnostics)
		target(c.Target)
		storage(c.Storage)
		btype(c.Type)
		f.flags["compress"] = c.Compress
		f.flags["encrypt"] = c.Encrypt
	case *commands.Restore:
		diag(c.Diagnostics)
		target(c.Target)
		storage(c.Storage)
		btype(c.Type)
		f.flags["preview"] = c.Preview
		f.flags["validate"] = c.Validate
		f.flags["force"] = c.Force
		path(c.To)
	case *commands.List:
		diag(c.Diagnostics)
		target(c.Target)
		storage(c.Storage)
		btype(c.Type)
		f.flags["size"] = c.Size
		f.flags["verify"] = c.Verify
		f.flags["running"] = c.Running
	case *commands.Schedule:
		diag(c.Diagnostics)
		target(c.Target)
		storage(c.Storage)
		btype(c.Type)
	case *commands.Verify:
		diag(c.Diagnostics)
		storage(c.Storage)
		f.flags["all"] = c.All
		f.flags["deep"] = c.Deep
		f.flags["fix"] = c.Fix
		f.flags["report"] = c.Report
	case *commands.Cleanup:
		diag(c.Diagnostics)
		target(c.Target)
		storage(c.Storage)
		btype(c.Type)
		f.flags["dry-run"] = c.DryRun
		f.flags["force"] = c.Force
	case *commands.Export:
		diag(c.Diagnostics)
		storage(c.Storage)
		f.flags["checksum"] = c.Checksum
		path(c.Destination)
	case *commands.Snapshot:
		diag(c.Diagnostics)
		storage(c.Storage)
		v := string(c.Resource)
		if v == "" {
			v = string(commands.ResourceAll)
		}
		f.resource = &v
		f.flags["consistent"] = c.Consistent
	case *commands.Test:
		diag(c.Diagnostics)
		storage(c.Storage)
	case *commands.Analyze:
		diag(c.Diagnostics)
		storage(c.Storage)
		f.flags["performance"] = c.Performance
	case *commands.Approvals:
		f.flags["withdraw"] = c.Withdraw != ""
	case *commands.Help, *commands.Status, *commands.Cancel, *commands.Audit:
		// No facts beyond the action.
	default:
		f.unknown = true
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
	if grant && f.unknown {
		return false // a command whose facts are not known is never allowed
	}
	if !r.pathsMatch(f, grant) {
		return false
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
