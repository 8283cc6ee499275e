package jobs

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
)

// builtinHandler returns the handler that does an action's real work
// through storage/engine.
func (w *Worker) builtinHandler(a commands.Action) Handler {
	switch a {
	case commands.ActionCreate:
		return HandlerFunc(w.create)
	case commands.ActionRestore:
		return HandlerFunc(w.restore)
	case commands.ActionList:
		return HandlerFunc(w.list)
	case commands.ActionVerify:
		return HandlerFunc(w.verify)
	case commands.ActionCleanup:
		return HandlerFunc(w.cleanup)
	case commands.ActionExport:
		return HandlerFunc(w.export)
	case commands.ActionCopy:
		return HandlerFunc(w.copyBackup)
	case commands.ActionSnapshot:
		return HandlerFunc(w.snapshot)
	case commands.ActionTest:
		return HandlerFunc(w.test)
	case commands.ActionAnalyze:
		return HandlerFunc(w.analyze)
	case commands.ActionSchedule:
		return HandlerFunc(w.schedule)
	}
	return HandlerFunc(func(context.Context, *Job) (*Result, error) {
		return nil, permanent(fmt.Errorf("no handler for action %q", a))
	})
}

// config returns the configuration for one job.
func (w *Worker) config() *config.File {
	if c := w.deps.Config(); c != nil {
		return c
	}
	return &config.File{}
}

// command casts a job's command to the type its action implies.
func command[T commands.Command](j *Job) (T, error) {
	c, ok := j.Command.(T)
	if !ok {
		var zero T
		return zero, permanent(fmt.Errorf("job %s carries a %T, not a %T", j.Meta.JobID, j.Command, zero))
	}
	return c, nil
}

// rawJSON marshals v for Result.Data, dropping it on error.
func rawJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}
