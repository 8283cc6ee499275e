package commands

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// MarshalCommand encodes c as a JSON object whose "action" field names its
// action; UnmarshalCommand reads it back. Every command type's MarshalJSON
// does the same, so json.Marshal(c) carries the action too.
func MarshalCommand(c Command) ([]byte, error) {
	if c == nil {
		return nil, fmt.Errorf("marshal command: no command given")
	}
	return json.Marshal(c)
}

// UnmarshalCommand decodes what MarshalCommand wrote into the command type
// its "action" field names.
func UnmarshalCommand(data []byte) (Command, error) {
	var head struct {
		Action Action `json:"action"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("unmarshal command: %w", err)
	}
	spec, ok := actionTableByName[head.Action]
	if !ok {
		return nil, fmt.Errorf("unmarshal command: unknown action %q", head.Action)
	}
	c := reflect.New(reflect.TypeOf(spec.newCommand()).Elem()).Interface().(Command)
	if err := json.Unmarshal(data, c); err != nil {
		return nil, fmt.Errorf("unmarshal %s command: %w", head.Action, err)
	}
	return c, nil
}

// withAction encodes v (a command struct with no MarshalJSON of its own)
// with "action" as its first field.
func withAction(a Action, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	head, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	out := append([]byte(`{"action":`), head...)
	if len(body) > 2 {
		out = append(out, ',')
	}
	return append(out, body[1:]...), nil
}

// MarshalJSON implementations: each adds "action" to the plain encoding.

// MarshalJSON encodes the command with its "action".
func (c Create) MarshalJSON() ([]byte, error) {
	type plain Create
	return withAction(ActionCreate, plain(c))
}

// MarshalJSON encodes the command with its "action".
func (c Restore) MarshalJSON() ([]byte, error) {
	type plain Restore
	return withAction(ActionRestore, plain(c))
}

// MarshalJSON encodes the command with its "action".
func (c List) MarshalJSON() ([]byte, error) { type plain List; return withAction(ActionList, plain(c)) }

// MarshalJSON encodes the command with its "action".
func (c Schedule) MarshalJSON() ([]byte, error) {
	type plain Schedule
	return withAction(ActionSchedule, plain(c))
}

// MarshalJSON encodes the command with its "action".
func (c Verify) MarshalJSON() ([]byte, error) {
	type plain Verify
	return withAction(ActionVerify, plain(c))
}

// MarshalJSON encodes the command with its "action".
func (c Cleanup) MarshalJSON() ([]byte, error) {
	type plain Cleanup
	return withAction(ActionCleanup, plain(c))
}

// MarshalJSON encodes the command with its "action".
func (c Export) MarshalJSON() ([]byte, error) {
	type plain Export
	return withAction(ActionExport, plain(c))
}

// MarshalJSON includes the action name.
func (c Copy) MarshalJSON() ([]byte, error) {
	type plain Copy
	return withAction(ActionCopy, plain(c))
}

// MarshalJSON encodes the command with its "action".
func (c Snapshot) MarshalJSON() ([]byte, error) {
	type plain Snapshot
	return withAction(ActionSnapshot, plain(c))
}

// MarshalJSON encodes the command with its "action".
func (c Test) MarshalJSON() ([]byte, error) { type plain Test; return withAction(ActionTest, plain(c)) }

// MarshalJSON encodes the command with its "action".
func (c Analyze) MarshalJSON() ([]byte, error) {
	type plain Analyze
	return withAction(ActionAnalyze, plain(c))
}

// MarshalJSON encodes the command with its "action".
func (c Help) MarshalJSON() ([]byte, error) { type plain Help; return withAction(ActionHelp, plain(c)) }

// MarshalJSON encodes the command with its "action".
func (c Status) MarshalJSON() ([]byte, error) {
	type plain Status
	return withAction(ActionStatus, plain(c))
}

// MarshalJSON encodes the command with its "action".
func (c Cancel) MarshalJSON() ([]byte, error) {
	type plain Cancel
	return withAction(ActionCancel, plain(c))
}

// MarshalJSON encodes the command with its "action".
func (c Approvals) MarshalJSON() ([]byte, error) {
	type plain Approvals
	return withAction(ActionApprovals, plain(c))
}

// MarshalJSON encodes the command with its "action".
func (c Audit) MarshalJSON() ([]byte, error) {
	type plain Audit
	return withAction(ActionAudit, plain(c))
}
