package commands

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Parser parses /backup commands. The zero Parser knows the targets (all,
// config, data, state, logs) and storage kinds (local, network, azure, aws,
// s3) of the command reference; a Parser built from the configuration adds
// the configured target and storage names.
type Parser struct {
	// Targets are configured target names --target accepts besides the
	// built-in ones.
	Targets []string
	// Storages are configured storage names --storage accepts besides the
	// storage kinds.
	Storages []string
	// MissingExportFormats are export formats this machine cannot write,
	// each with the reason (7z without the 7z program); --format refuses
	// them with that reason.
	MissingExportFormats map[ExportFormat]string
}

// Parse parses text with the zero Parser.
func Parse(text string) (Command, error) {
	return Parser{}.Parse(text)
}

// Parse reads one /backup command. The text is split like a shell would
// (quotes group words; "smart" quotes count as plain ones) and a leading
// "/backup" or "backup" word is dropped. Empty text is the Help command,
// and so is "help [ACTION]" or --help anywhere. When the first word is an
// option, the action is create. Errors are *Error and read as one line.
func (p Parser) Parse(text string) (Command, error) {
	words, err := split(text)
	if err != nil {
		return nil, err
	}
	return p.ParseWords(words)
}

// ParseWords parses a command already split into words (a terminal's
// arguments); it follows the same rules as Parse.
func (p Parser) ParseWords(words []string) (Command, error) {
	words = slices.Clone(words)
	for i, w := range words {
		words[i] = chatReplacer.Replace(w)
	}
	if len(words) > 0 && (strings.EqualFold(words[0], "/backup") || strings.EqualFold(words[0], "backup")) {
		words = words[1:]
	}
	if len(words) == 0 {
		return &Help{}, nil
	}
	spec := actionTableByName[ActionCreate]
	if first := normalizeDashes(words[0]); !strings.HasPrefix(first, "-") {
		name := toLower(first)
		s, ok := actionTableByName[Action(name)]
		if !ok {
			return nil, &Error{
				Message:    fmt.Sprintf("unknown action %s", show(first)),
				Suggestion: suggest(name, actionNames()),
				Hint:       "`/backup help` lists the actions.",
			}
		}
		spec = s
		words = words[1:]
	}
	cmd := spec.newCommand()
	if err := p.fill(spec, cmd, words); err != nil {
		var help *helpRequest
		if errors.As(err, &help) {
			return &Help{Topic: help.topic}, nil
		}
		var e *Error
		if errors.As(err, &e) && e.Action == "" {
			e.Action = spec.action
		}
		return nil, err
	}
	return cmd, nil
}

// fill sets cmd's fields from words, then applies the action's rules.
// A --help anywhere turns the command into help for its action.
func (p Parser) fill(spec *actionSpec, cmd Command, words []string) error {
	flags := spec.flags(p, cmd)
	var pos *positionalSpec
	if spec.arg != nil {
		pos = spec.arg(cmd)
	}
	seen := map[string]bool{}
	posGiven := false
	var lastBool string
	for i := 0; i < len(words); i++ {
		raw := words[i]
		w := normalizeDashes(raw)
		if w == "--help" || w == "-h" {
			return helpInstead(spec)
		}
		if !strings.HasPrefix(w, "-") || w == "-" || isNumber(w) {
			switch {
			case pos != nil && !posGiven:
				posGiven = true
				if err := pos.value.set(raw); err != nil {
					return flagError(spec.action, "", "", err)
				}
				lastBool = ""
				continue
			default:
				return unexpectedWord(spec, flags, raw, lastBool)
			}
		}
		if !strings.HasPrefix(w, "--") {
			return singleDash(spec, flags, w)
		}
		name, value, hasValue := strings.Cut(w[2:], "=")
		if hasValue {
			// Keep the value exactly as typed (only the dashes were normalized).
			_, value, _ = strings.Cut(raw, "=")
		}
		name = toLower(name)
		if name == "" {
			return &Error{Message: "a bare -- is not an option", Hint: "Write options as --name value."}
		}
		f := findFlag(flags, name)
		if f == nil {
			return unknownFlag(spec, flags, name)
		}
		if seen[name] {
			if _, ok := f.value.(repeatable); !ok {
				return &Error{Flag: name, Message: fmt.Sprintf("--%s is given twice", name), Hint: "Give it once."}
			}
		}
		seen[name] = true
		lastBool = ""
		if _, isBool := f.value.(boolValue); isBool {
			if !hasValue {
				value = "true"
				lastBool = name
			}
		} else if !hasValue {
			if i+1 >= len(words) || strings.HasPrefix(normalizeDashes(words[i+1]), "--") {
				return &Error{Flag: name, Message: fmt.Sprintf("--%s needs a value", name), Hint: fmt.Sprintf("Write --%s %s.", name, valueHint(f))}
			}
			i++
			value = words[i]
		}
		if err := f.value.set(value); err != nil {
			return flagError(spec.action, name, "--"+name, err)
		}
	}
	if pos != nil && pos.required && !posGiven {
		return &Error{Message: fmt.Sprintf("%s needs a %s", spec.action, pos.what), Hint: fmt.Sprintf("Write `/backup %s %s`.", spec.action, pos.name)}
	}
	if spec.check != nil {
		return spec.check(cmd)
	}
	return nil
}

// helpInstead reports that --help was given while parsing spec's action;
// ParseWords answers with Help for that action.
func helpInstead(spec *actionSpec) error {
	topic := string(spec.action)
	if spec.action == ActionHelp {
		topic = ""
	}
	return &helpRequest{topic: topic}
}

// helpRequest is how fill says "--help was given"; ParseWords turns it
// into a Help command.
type helpRequest struct{ topic string }

func (h *helpRequest) Error() string { return "help requested for " + h.topic }

// flagError makes a setter's error an *Error about one flag. label ("--name")
// starts the message, since setters phrase their errors to follow it; it
// is "" for the positional word.
func flagError(action Action, flag, label string, err error) error {
	out := Error{Message: err.Error()}
	var e *Error
	if errors.As(err, &e) {
		out = *e
	}
	out.Action, out.Flag = action, flag
	if label != "" {
		out.Message = label + " " + out.Message
	}
	return &out
}

// unexpectedWord explains a word that is neither an option nor its value.
func unexpectedWord(spec *actionSpec, flags []flagSpec, word, lastBool string) error {
	e := &Error{Message: fmt.Sprintf("unexpected word %s", show(word))}
	lw := toLower(word)
	switch {
	case lastBool != "" && slices.Contains([]string{"true", "false", "yes", "no", "on", "off"}, lw):
		e.Hint = fmt.Sprintf("--%s is a switch: write --%s=%s.", lastBool, lastBool, lw)
	case findFlag(flags, lw) != nil:
		e.Suggestion = "--" + lw
	default:
		for _, f := range flags {
			if c, ok := f.value.(chooser); ok && slices.Contains(c.choices(), lw) && f.name != "storage" && f.name != "target" {
				e.Suggestion = "--" + f.name + " " + lw
				break
			}
		}
		if e.Suggestion == "" && len(flags) == 0 {
			e.Hint = fmt.Sprintf("`/backup help %s` shows how to use it.", spec.action)
		} else if e.Suggestion == "" {
			e.Hint = fmt.Sprintf("Options start with --; quote values with spaces. `/backup help %s` lists them.", spec.action)
		}
	}
	return e
}

// singleDash explains -x: options take two dashes.
func singleDash(spec *actionSpec, flags []flagSpec, w string) error {
	name, _, _ := strings.Cut(strings.TrimLeft(w, "-"), "=")
	e := &Error{Message: fmt.Sprintf("options start with two dashes, not %s", show(w))}
	if f := findFlag(flags, toLower(name)); f != nil {
		e.Flag = f.name
		e.Suggestion = "--" + f.name
	} else if s := suggest(name, flagNames(flags)); s != "" {
		e.Suggestion = "--" + s
	} else {
		e.Hint = fmt.Sprintf("`/backup help %s` lists the options.", spec.action)
	}
	return e
}

// unknownFlag explains an option this action does not take: either
// another action's option, or a typo.
func unknownFlag(spec *actionSpec, flags []flagSpec, name string) error {
	if others := actionsTaking(name); len(others) > 0 {
		return &Error{
			Flag:    name,
			Message: fmt.Sprintf("--%s is not an option of %s", name, spec.action),
			Hint:    fmt.Sprintf("It belongs to %s.", orList(others)),
		}
	}
	e := &Error{Flag: name, Message: fmt.Sprintf("unknown option %s for %s", show("--"+name), spec.action)}
	if s := suggest(name, flagNames(flags)); s != "" {
		e.Suggestion = "--" + s
	} else {
		e.Hint = fmt.Sprintf("`/backup help %s` lists its options.", spec.action)
	}
	return e
}

// actionsTaking lists the actions that have an option called name.
func actionsTaking(name string) []string {
	var out []string
	for _, s := range actionTable {
		if findFlag(s.flags(Parser{}, s.newCommand()), name) != nil {
			out = append(out, string(s.action))
		}
	}
	return out
}

func findFlag(flags []flagSpec, name string) *flagSpec {
	for i := range flags {
		if flags[i].name == name {
			return &flags[i]
		}
	}
	return nil
}

func flagNames(flags []flagSpec) []string {
	out := make([]string, len(flags))
	for i, f := range flags {
		out[i] = f.name
	}
	return out
}

// valueHint is the placeholder shown when a value is missing.
func valueHint(f *flagSpec) string {
	if c, ok := f.value.(chooser); ok && len(c.choices()) <= 6 {
		return strings.Join(c.choices(), "|")
	}
	return f.arg
}

// normalizeDashes turns a leading em or en dash (what phones make of "--")
// into "--".
func normalizeDashes(w string) string {
	for _, d := range []string{"\u2014", "\u2013"} {
		if strings.HasPrefix(w, d) {
			return "--" + strings.TrimPrefix(strings.TrimPrefix(w, d), "-")
		}
	}
	return w
}

// isNumber reports whether w is a (negative) number, which is a value,
// not an option.
func isNumber(w string) bool {
	if len(w) < 2 || w[0] != '-' {
		return false
	}
	for _, r := range w[1:] {
		if (r < '0' || r > '9') && r != '.' {
			return false
		}
	}
	return true
}

func toLower(s string) string { return strings.ToLower(s) }

// targetNames are the built-in targets plus the configured ones.
func (p Parser) targetNames() []string {
	return mergeNames(builtinTargets, p.Targets)
}

// storageNames are the storage kinds plus the configured names; list also
// takes all and remote.
func (p Parser) storageNames(forList bool) []string {
	names := mergeNames(builtinStorages, p.Storages)
	if forList {
		names = mergeNames(listOnlyStorages, names)
	}
	return names
}

// helpTargets are the targets help lists: with a configuration, "all"
// and the configured targets; without one (the zero Parser), the built-in
// names. nil means the same as the parser accepts.
func (p Parser) helpTargets() []string {
	if len(p.Targets) == 0 {
		return nil
	}
	return mergeNames([]string{defaultTarget}, p.Targets)
}

// helpStorages are the storages help lists: with a configuration, the
// configured storages (then, for list, all and remote) followed by the
// kinds; nil means the same as the parser accepts.
func (p Parser) helpStorages(forList bool) []string {
	if len(p.Storages) == 0 {
		return nil
	}
	names := slices.Clone(p.Storages)
	if forList {
		names = append(names, listOnlyStorages...)
	}
	// Help joins these with ", ": "offsite, or a kind: local, network, ...".
	kinds := slices.Clone(builtinStorages)
	kinds[0] = "or a kind: " + kinds[0]
	return append(names, kinds...)
}

func mergeNames(base, extra []string) []string {
	out := slices.Clone(base)
	for _, n := range extra {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}
