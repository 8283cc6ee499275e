package jobs

import (
	"context"
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
	// run does the action's work (set by register).
	run func(*Worker, context.Context, *Job) (*Result, error)
}

// specs lists every action that runs as a job, each registered by its
// handler's file (register). Help, status, cancel, approvals and audit are
// answered by the router and never enqueued.
var specs = map[commands.Action]actionSpec{}

// register declares an action that runs as a job: how it runs on the
// queue and the method that does its work, which gets the job's command
// as the type its action implies. Each handler file registers its action
// in an init function, so a new action is its command table entry, its
// handler file and its wording, nothing else.
func register[T commands.Command](a commands.Action, s actionSpec, run func(*Worker, context.Context, *Job, T) (*Result, error)) {
	if _, dup := specs[a]; dup {
		panic("jobs: action " + string(a) + " registered twice")
	}
	s.run = func(w *Worker, ctx context.Context, j *Job) (*Result, error) {
		c, err := command[T](j)
		if err != nil {
			return nil, err
		}
		return run(w, ctx, j, c)
	}
	specs[a] = s
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
