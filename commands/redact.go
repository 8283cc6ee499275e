package commands

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Redact returns cmd with every string value passed through redact (a
// secret typed into --tags or --name becomes "[REDACTED]"), by way of its
// JSON encoding; it returns cmd itself when nothing changed. It fails when
// the redacted command no longer decodes.
func Redact(cmd Command, redact func(string) string) (Command, error) {
	if cmd == nil || redact == nil {
		return cmd, nil
	}
	b, err := MarshalCommand(cmd)
	if err != nil {
		return nil, fmt.Errorf("redact %s command: %w", cmd.Action(), err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("redact %s command: %w", cmd.Action(), err)
	}
	changed := false
	v = redactValue(v, redact, &changed)
	if !changed {
		return cmd, nil
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("redact %s command: %w", cmd.Action(), err)
	}
	rc, err := UnmarshalCommand(out)
	if err != nil {
		return nil, fmt.Errorf("redact %s command: %w", cmd.Action(), err)
	}
	return rc, nil
}

func redactValue(v any, redact func(string) string, changed *bool) any {
	switch x := v.(type) {
	case string:
		if r := redact(x); r != x {
			*changed = true
			return r
		}
		return x
	case []any:
		for i := range x {
			x[i] = redactValue(x[i], redact, changed)
		}
		return x
	case map[string]any:
		// A tag is redacted as "key=value", so "password=..." is caught
		// the way it is in the text of the command.
		key, kok := x["key"].(string)
		val, vok := x["value"].(string)
		if kok && vok && len(x) == 2 {
			whole := key + "=" + val
			if r := redact(whole); r != whole {
				*changed = true
				k, v, ok := strings.Cut(r, "=")
				if !ok {
					k, v = r, ""
				}
				x["key"], x["value"] = k, v
			}
			return x
		}
		for k, e := range x {
			if k == "action" {
				continue
			}
			x[k] = redactValue(e, redact, changed)
		}
		return x
	}
	return v
}
