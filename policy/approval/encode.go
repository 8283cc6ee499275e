package approval

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/policy"
)

// encode renders the stored fields of a (everything but the id and the
// decision) as HSET arguments.
func encode(a Approval) ([]any, error) {
	req, err := json.Marshal(a.Requester)
	if err != nil {
		return nil, fmt.Errorf("encoding requester: %w", err)
	}
	cmd, err := commands.MarshalCommand(a.Command)
	if err != nil {
		return nil, fmt.Errorf("encoding the command to approve: %w", err)
	}
	extra, err := json.Marshal(a.Extra)
	if err != nil {
		return nil, fmt.Errorf("encoding extra fields: %w", err)
	}
	return []any{
		"state", string(a.State),
		"requester", string(req),
		"channel", a.Channel,
		"thread", a.Thread,
		"action", string(a.Command.Action()),
		"command", string(cmd),
		"text", a.Text,
		"plan_hash", a.PlanHash,
		"extra", string(extra),
		"created_ms", a.CreatedAt.UnixMilli(),
		"expires_ms", a.ExpiresAt.UnixMilli(),
	}, nil
}

func decode(m map[string]string) (Approval, error) {
	a := Approval{
		ID: m["id"], State: State(m["state"]), Channel: m["channel"], Thread: m["thread"],
		Text: m["text"], PlanHash: m["plan_hash"],
		CreatedAt: millis(m["created_ms"]), ExpiresAt: millis(m["expires_ms"]),
	}
	if err := json.Unmarshal([]byte(m["requester"]), &a.Requester); err != nil {
		return a, fmt.Errorf("decoding requester: %w", err)
	}
	if s := m["extra"]; s != "" && s != "null" {
		if err := json.Unmarshal([]byte(s), &a.Extra); err != nil {
			return a, fmt.Errorf("decoding extra fields: %w", err)
		}
	}
	cmd, err := commands.UnmarshalCommand([]byte(m["command"]))
	if err != nil {
		return a, fmt.Errorf("decoding the stored %s command: %w", m["action"], err)
	}
	a.Command = cmd
	if s := m["decided_by"]; s != "" {
		var who policy.Identity
		if err := json.Unmarshal([]byte(s), &who); err != nil {
			return a, fmt.Errorf("decoding who decided: %w", err)
		}
		a.DecidedBy = &who
	}
	if s := m["decided_ms"]; s != "" {
		a.DecidedAt = millis(s)
	}
	return a, nil
}

func millis(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(n)
}
