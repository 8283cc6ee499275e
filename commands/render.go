package commands

import (
	"reflect"
	"strings"
)

// Render writes c as canonical command text: the action, its positional
// word, then each option that differs from its default, in the order help
// lists them (`create --type full --target data --encrypt`). For every
// command Parse accepts, Parse(Render(c)) deep-equals c. Render returns ""
// for a nil command or one this package does not define.
func Render(c Command) string {
	if c == nil {
		return ""
	}
	if v := reflect.ValueOf(c); v.Kind() == reflect.Pointer && v.IsNil() {
		return ""
	}
	spec, ok := actionTableByName[c.Action()]
	if !ok || reflect.TypeOf(c) != reflect.TypeOf(spec.newCommand()) {
		return ""
	}
	words := []string{string(spec.action)}
	if spec.arg != nil {
		if v := spec.arg(c).value.get(); v != "" {
			words = append(words, Quote(v))
		}
	}
	defaults := spec.flags(Parser{}, spec.newCommand())
	for i, f := range spec.flags(Parser{}, c) {
		v, d := f.value.get(), defaults[i].value.get()
		if v == d {
			continue
		}
		if _, isBool := f.value.(boolValue); isBool {
			if v == "true" {
				words = append(words, "--"+f.name)
			} else {
				words = append(words, "--"+f.name+"=false")
			}
			continue
		}
		if v == "" {
			// A default cleared by hand has no text form; leaving it out
			// gives the default back.
			continue
		}
		if strings.HasPrefix(normalizeDashes(v), "-") {
			// A value that looks like an option is attached with "=".
			words = append(words, "--"+f.name+"="+Quote(v))
			continue
		}
		words = append(words, "--"+f.name, Quote(v))
	}
	return strings.Join(words, " ")
}
