package jobs

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/backupbot/backupbot/commands"
)

// Queues, in priority order. Workers serve them with strict priority: a
// queued restore always starts before any chat command, and chat commands
// before backups fired by a schedule.
const (
	QueueCritical  = "critical"  // restores
	QueueDefault   = "default"   // chat commands
	QueueScheduled = "scheduled" // backups fired by a schedule
)

// TaskPrefix starts every task type name: "backup:create", "backup:restore", ...
const TaskPrefix = "backup:"

// TaskType returns the asynq task type of an action.
func TaskType(a commands.Action) string { return TaskPrefix + string(a) }

// actionSpec is how one action runs on the queue.
type actionSpec struct {
	// Timeout bounds one attempt (asynq's default of 30 minutes would kill long backups).
	Timeout time.Duration
	// MaxRetry is how often a failed attempt is retried; 0 where a retry is
	// not known to be safe. (A job interrupted by a crash or a shutdown is
	// resumed whatever this says, up to maxInterruptions times.)
	MaxRetry int
	// Queue is the queue a chat command of this action goes to.
	Queue string
	// Why documents the retry decision.
	Why string
}

// specs lists every action that runs as a job. Help, status, cancel,
// approvals and audit are answered by the router and never enqueued.
var specs = map[commands.Action]actionSpec{
	commands.ActionCreate: {12 * time.Hour, 3, QueueDefault,
		"idempotent by job id: the engine returns the snapshot an earlier attempt made"},
	commands.ActionRestore: {12 * time.Hour, 2, QueueCritical,
		"converges: files are written to a temp name and renamed, so a rerun ends in the same state"},
	commands.ActionList:     {10 * time.Minute, 2, QueueDefault, "read-only"},
	commands.ActionVerify:   {12 * time.Hour, 2, QueueDefault, "read-only (--fix rebuilds the index, which a rerun repeats harmlessly)"},
	commands.ActionTest:     {5 * time.Minute, 1, QueueDefault, "writes and deletes only its own probe object"},
	commands.ActionAnalyze:  {time.Hour, 1, QueueDefault, "read-only"},
	commands.ActionSnapshot: {2 * time.Hour, 2, QueueDefault, "each snapshot is a backup idempotent by job id"},
	commands.ActionCleanup:  {6 * time.Hour, 0, QueueDefault, "deletes data: never retried behind the user's back"},
	commands.ActionExport:   {6 * time.Hour, 0, QueueDefault, "writes outside the repository: not retried"},
	commands.ActionCopy: {12 * time.Hour, 3, QueueDefault,
		"idempotent: a copy of the same backup is found by its origin; an interrupted one leaves packs the retry reuses"},
	commands.ActionSchedule: {time.Minute, 0, QueueDefault, "a quick Redis update: the user can just say it again"},
}

// maxInterruptions bounds how often a job is resumed after its worker
// crashed or stopped, beyond its retries: a job that kills its worker
// every time (say, out of memory) ends failed instead of looping.
const maxInterruptions = 5

// Queueable reports whether an action runs as a job (help, status, cancel,
// approvals and audit do not).
func Queueable(a commands.Action) bool {
	_, ok := specs[a]
	return ok
}

// payload is what a task carries: the job's meta and the typed command
// (commands.MarshalCommand: the command's fields plus its "action"), never
// file data.
type payload struct {
	Meta    Meta            `json:"meta"`
	Command json.RawMessage `json:"command"`
}

func encodePayload(cmd commands.Command, meta Meta) ([]byte, error) {
	c, err := commands.MarshalCommand(cmd)
	if err != nil {
		return nil, fmt.Errorf("encode %s command: %w", cmd.Action(), err)
	}
	return json.Marshal(payload{Meta: meta, Command: c})
}

func decodePayload(b []byte) (commands.Command, Meta, error) {
	var p payload
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, Meta{}, fmt.Errorf("decode job payload: %w", err)
	}
	cmd, err := commands.UnmarshalCommand(p.Command)
	if err != nil {
		return nil, p.Meta, fmt.Errorf("job %s: %w", p.Meta.JobID, err)
	}
	return cmd, p.Meta, nil
}
