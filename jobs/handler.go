package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/storage/engine"
)

// Job is one run (attempt) of a queued command, as handlers see it.
type Job struct {
	Meta    Meta
	Command commands.Command
	// Attempt is 1 on the first run, 2 on the first retry, ...
	Attempt int
	// Logger carries the job id and action.
	Logger *slog.Logger
	// progress relays reports to subscribers (throttled); never nil.
	progress *progressRelay
	// debug collects storage calls and log lines with --debug; else nil.
	debug *jobDebug
}

// Progress reports how far the job has got. It is cheap and safe to call
// very often from any goroutine: subscribers get at most one report per
// WorkerOptions.ProgressInterval, plus one at every phase change, with
// rate and ETA computed from the bytes. It takes the engine's reports as
// they are (pass it as the engine's ProgressFunc).
func (j *Job) Progress(p engine.Progress) { j.progress.update(p) }

// Handler does the work of one action, shaped like asynq's (and
// net/http's) Handler: it returns the result to post, or an error saying
// why in words an engineer can act on. Mark an error with Permanent when
// retrying cannot help.
type Handler interface {
	Run(ctx context.Context, j *Job) (*Result, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, j *Job) (*Result, error)

// Run calls f.
func (f HandlerFunc) Run(ctx context.Context, j *Job) (*Result, error) { return f(ctx, j) }

// Middleware wraps a Handler, like asynq's MiddlewareFunc.
type Middleware func(Handler) Handler

// chain applies mws so that the first one is the outermost.
func chain(h Handler, mws ...Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// ErrPermanent marks a failure that retrying cannot fix (a bad storage
// name, a wrong password, a denied command): the job fails at once. Mark
// an error with Permanent, which keeps its message as it is.
var ErrPermanent = errors.New("permanent failure")

// Permanent marks err as one a retry cannot fix without changing its
// message; errors.Is(result, ErrPermanent) is then true.
func Permanent(err error) error {
	if err == nil || errors.Is(err, ErrPermanent) {
		return err
	}
	return permanentError{err}
}

// permanent is Permanent for this package's own errors.
func permanent(err error) error { return Permanent(err) }

type permanentError struct{ err error }

func (e permanentError) Error() string   { return e.err.Error() }
func (e permanentError) Unwrap() []error { return []error{e.err, ErrPermanent} }

// ErrBadInput marks a permanent failure caused by the command or the
// configuration rather than by the work: an unknown storage or target
// name, an unsupported format or resource. errors.Is(err, ErrPermanent)
// is true of it as well. backupctl exits 2 on it.
var ErrBadInput = errors.New("bad input")

// badInput marks err as bad input (and so permanent), keeping its message.
func badInput(err error) error {
	if err == nil || errors.Is(err, ErrBadInput) {
		return err
	}
	return badInputError{err}
}

type badInputError struct{ err error }

func (e badInputError) Error() string   { return e.err.Error() }
func (e badInputError) Unwrap() []error { return []error{e.err, ErrBadInput, ErrPermanent} }

// errPanic marks a handler panic; it is permanent (a rerun would panic again).
var errPanic = errors.New("internal error")

// Recover turns a panic in the handler into a permanent failure and logs
// the stack, so one bad job cannot take the worker down.
func Recover() Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, j *Job) (res *Result, err error) {
			defer func() {
				if v := recover(); v != nil {
					j.Logger.Error("job handler panicked", "panic", v, "stack", string(debug.Stack()))
					res, err = nil, permanent(fmt.Errorf("%w: the %s handler crashed (%v); the worker log has the stack",
						errPanic, j.Command.Action(), v))
				}
			}()
			return next.Run(ctx, j)
		})
	}
}

// Rechecker is the policy's worker-side check; *policy.Policy implements it.
type Rechecker interface {
	Recheck(jobID string, requester policy.Identity, channel string, cmd commands.Command) error
}

// Recheck runs the policy again with the stored requester before any work,
// so a queued job of a user who lost the role since does not run. The
// refusal names the lost role and is final (not retried). A nil p passes
// every job.
func Recheck(p func() Rechecker) Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, j *Job) (*Result, error) {
			if p != nil && !isRetentionJob(j) && !isConfiguredCopy(j) {
				if pol := p(); pol != nil && pol != Rechecker((*policy.Policy)(nil)) {
					if err := pol.Recheck(j.Meta.JobID, j.Meta.Requester, j.Meta.Channel, j.Command); err != nil {
						return nil, permanent(err)
					}
				}
			}
			return next.Run(ctx, j)
		})
	}
}
