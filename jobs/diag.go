package jobs

import (
	"reflect"

	"github.com/backupbot/backupbot/commands"
)

// DiagnosticsOf is the --verbose and --debug of a command (every action's
// command embeds commands.Diagnostics); zero for one that has none.
func DiagnosticsOf(cmd commands.Command) commands.Diagnostics {
	v := reflect.ValueOf(cmd)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return commands.Diagnostics{}
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return commands.Diagnostics{}
	}
	if f := v.FieldByName("Diagnostics"); f.IsValid() {
		if d, ok := f.Interface().(commands.Diagnostics); ok {
			return d
		}
	}
	return commands.Diagnostics{}
}
