package jobs

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
)

// builtinHandler returns the handler that does an action's real work
// through storage/engine: the one its file registered.
func (w *Worker) builtinHandler(a commands.Action) Handler {
	if spec, ok := specs[a]; ok && spec.run != nil {
		return HandlerFunc(func(ctx context.Context, j *Job) (*Result, error) { return spec.run(w, ctx, j) })
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

// oneTarget is a --target as the engine's requests and filters take it:
// "" for all.
func oneTarget(target string) string {
	if target == "all" {
		return ""
	}
	return target
}
