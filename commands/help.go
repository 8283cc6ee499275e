package commands

import (
	"fmt"
	"strings"
)

// HelpText is help from the zero Parser: with no topic, the list of
// actions; with an action name, that action's options (value, default,
// description), rules and examples. It fails with an *Error for an
// unknown topic.
func HelpText(topic string) (string, error) {
	return Parser{}.HelpText(topic)
}

// HelpText is help that lists p's configured targets and storages too.
// Option tables and examples are in ``` blocks, which chat platforms show
// in a fixed-width font.
func (p Parser) HelpText(topic string) (string, error) {
	topic = strings.TrimSpace(topic)
	if topic == "" {
		return p.overview(), nil
	}
	spec, ok := actionTableByName[Action(toLower(topic))]
	if !ok {
		return "", &Error{
			Action:     ActionHelp,
			Message:    fmt.Sprintf("there is no action %s", show(topic)),
			Suggestion: suggest(topic, actionNames()),
			Hint:       "`/backup help` lists the actions.",
		}
	}
	return p.actionHelp(spec), nil
}

func (p Parser) overview() string {
	var b strings.Builder
	b.WriteString("*/backup*: backups and restores from chat. Usage: `/backup ACTION [options]`\n```\n")
	width := 0
	for _, s := range actionTable {
		width = max(width, len(s.action))
	}
	for _, s := range actionTable {
		fmt.Fprintf(&b, "%-*s  %s\n", width, s.action, s.summary)
	}
	b.WriteString("```\n")
	b.WriteString("`/backup` alone or `/backup help` shows this list; `/backup help ACTION` (or `ACTION --help`) shows an action's options.\n")
	b.WriteString("Text that starts with an option is a create: `/backup --type full`. Quote values with spaces: `--name \"pre deployment\"`.")
	if len(p.Targets) > 0 {
		fmt.Fprintf(&b, "\nTargets here: %s.", strings.Join(p.helpTargets(), ", "))
	}
	if len(p.Storages) > 0 {
		fmt.Fprintf(&b, "\nStorages here: %s (or a kind: %s).", strings.Join(p.Storages, ", "), strings.Join(builtinStorages, ", "))
	}
	return b.String()
}

func (p Parser) actionHelp(spec *actionSpec) string {
	cmd := spec.newCommand()
	flags := spec.flags(p, cmd)
	var b strings.Builder
	fmt.Fprintf(&b, "*/backup %s*: %s\n", spec.action, spec.summary)
	usage := "/backup " + string(spec.action)
	if spec.arg != nil {
		pos := spec.arg(cmd)
		if pos.required {
			usage += " " + pos.name
		} else {
			usage += " [" + pos.name + "]"
		}
	}
	if len(flags) > 0 {
		usage += " [options]"
	}
	fmt.Fprintf(&b, "Usage: `%s`\n", usage)

	if len(flags) > 0 {
		var left, right []string
		var location, diagnostics []string
		for _, f := range flags {
			switch f.group {
			case groupLocation:
				location = append(location, "--"+f.name+" "+f.arg)
				continue
			case groupDiagnostics:
				diagnostics = append(diagnostics, "--"+f.name)
				continue
			}
			left = append(left, flagSynopsis(f))
			right = append(right, flagDescription(f))
		}
		b.WriteString("Options:\n```\n")
		width := 0
		for _, l := range left {
			width = max(width, len(l))
		}
		for i := range left {
			fmt.Fprintf(&b, "%-*s  %s\n", width, left[i], right[i])
		}
		if len(location) > 0 {
			fmt.Fprintf(&b, "%s: storage location, this command only\n", strings.Join(location, ", "))
		}
		if len(diagnostics) > 0 {
			fmt.Fprintf(&b, "%s: report each step / add diagnostics\n", strings.Join(diagnostics, ", "))
		}
		b.WriteString("```\n")
	}
	for _, n := range spec.notes {
		b.WriteString(n + "\n")
	}
	if len(spec.examples) > 0 {
		b.WriteString("Examples:\n```\n")
		for _, e := range spec.examples {
			b.WriteString(e + "\n")
		}
		b.WriteString("```\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// flagSynopsis is "--type full|incremental|differential" or "--name TEXT".
func flagSynopsis(f flagSpec) string {
	if _, isBool := f.value.(boolValue); isBool {
		return "--" + f.name
	}
	if e, ok := f.value.(chooser); ok {
		if _, isName := f.value.(nameChoice); !isName {
			return "--" + f.name + " " + strings.Join(e.choices(), "|")
		}
	}
	return "--" + f.name + " " + f.arg
}

// flagDescription is the usage, the names a name option takes, and the
// default when there is one.
func flagDescription(f flagSpec) string {
	d := f.usage
	if n, ok := f.value.(nameChoice); ok {
		d += ": " + strings.Join(n.helpNames(), ", ")
	}
	if def := f.value.get(); def != "" && def != "false" {
		d += " (default: " + def + ")"
	}
	return d
}
