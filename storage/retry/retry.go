// Package retry wraps a backend.Backend so that transient failures (a
// dropped connection, a throttled request, a timeout) are retried with
// exponential backoff and jitter. Errors that wrap backend.ErrPermanent or
// backend.ErrNotFound, and cancelled contexts, are returned at once.
package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/backupbot/backupbot/storage/backend"
)

// Options tune the retry policy. Zero fields take the defaults.
type Options struct {
	// Attempts is the total number of tries per call (default 6).
	Attempts int
	// InitialDelay is the wait before the first retry (default 250ms); each
	// later wait doubles, up to MaxDelay (default 15s), with ±50% jitter.
	InitialDelay time.Duration
	MaxDelay     time.Duration
	// Logger receives one line per retry; nil discards.
	Logger *slog.Logger
	// Sleep waits d or until ctx is done; tests replace it to run instantly.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Backend is a backend.Backend that retries transient errors of another.
type Backend struct {
	be   backend.Backend
	opts Options
}

// New wraps b with the retry policy in opts.
func New(b backend.Backend, opts Options) *Backend {
	if opts.Attempts <= 0 {
		opts.Attempts = 6
	}
	if opts.InitialDelay <= 0 {
		opts.InitialDelay = 250 * time.Millisecond
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = 15 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	return &Backend{be: b, opts: opts}
}

// Unwrap returns the wrapped backend.
func (r *Backend) Unwrap() backend.Backend { return r.be }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Retryable reports whether err may go away if the call is repeated.
func Retryable(err error) bool {
	return err != nil &&
		!errors.Is(err, backend.ErrPermanent) &&
		!errors.Is(err, backend.ErrNotFound) &&
		!errors.Is(err, context.Canceled) &&
		!errors.Is(err, context.DeadlineExceeded)
}

// do runs op until it succeeds, fails for good or runs out of attempts.
func (r *Backend) do(ctx context.Context, what string, op func(attempt int) error) error {
	delay := r.opts.InitialDelay
	var err error
	for attempt := 1; ; attempt++ {
		err = op(attempt)
		if err == nil || !Retryable(err) || ctx.Err() != nil {
			return err
		}
		if attempt >= r.opts.Attempts {
			return fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
		}
		wait := delay/2 + rand.N(delay)
		r.opts.Logger.Warn("storage call failed, retrying", "op", what, "location", r.be.Location(),
			"attempt", attempt, "wait", wait.Round(time.Millisecond), "err", err)
		if serr := r.opts.Sleep(ctx, wait); serr != nil {
			return err
		}
		delay = min(delay*2, r.opts.MaxDelay)
	}
}

// Location implements backend.Backend.
func (r *Backend) Location() string { return r.be.Location() }

// Put implements backend.Backend; the body is rewound before every attempt.
func (r *Backend) Put(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
	return r.do(ctx, "put "+key, func(int) error {
		if _, err := body.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("put %s: rewinding the body: %w: %w", key, err, backend.ErrPermanent)
		}
		return r.be.Put(ctx, key, body, size)
	})
}

// Create implements backend.Creator when the wrapped backend does. A
// retry after a lost answer may report ErrExists for an object this very
// call created; callers read the object back to tell (the repository does).
func (r *Backend) Create(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
	c, ok := r.be.(backend.Creator)
	if !ok {
		return fmt.Errorf("create %s: %s cannot create objects exclusively: %w", key, r.be.Location(), backend.ErrPermanent)
	}
	return r.do(ctx, "create "+key, func(int) error {
		if _, err := body.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("create %s: rewinding the body: %w: %w", key, err, backend.ErrPermanent)
		}
		return c.Create(ctx, key, body, size)
	})
}

// Get implements backend.Backend. A read that fails midway reopens the
// object where it stopped, within the same retry budget.
func (r *Backend) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	var rc io.ReadCloser
	err := r.do(ctx, "get "+key, func(int) error {
		var err error
		rc, err = r.be.Get(ctx, key, offset, length)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &resumingReader{r: r, ctx: ctx, key: key, offset: offset, length: length, rc: rc}, nil
}

type resumingReader struct {
	r        *Backend
	ctx      context.Context
	key      string
	offset   int64
	length   int64 // < 0: to the end
	read     int64
	rc       io.ReadCloser
	failures int
}

func (g *resumingReader) Read(p []byte) (int, error) {
	for {
		n, err := g.rc.Read(p)
		g.read += int64(n)
		if err == nil || err == io.EOF || n > 0 {
			if err != nil && err != io.EOF && n > 0 {
				err = nil // report the bytes now, the error on the next call
			}
			return n, err
		}
		if !Retryable(err) || g.ctx.Err() != nil {
			return 0, err
		}
		g.failures++
		if g.failures >= g.r.opts.Attempts {
			return 0, fmt.Errorf("get %s: %w (gave up after %d attempts)", g.key, err, g.failures)
		}
		_ = g.rc.Close()
		remaining := int64(-1)
		if g.length >= 0 {
			remaining = g.length - g.read
		}
		var rc io.ReadCloser
		rerr := g.r.do(g.ctx, "get "+g.key, func(int) error {
			var e error
			rc, e = g.r.be.Get(g.ctx, g.key, g.offset+g.read, remaining)
			return e
		})
		if rerr != nil {
			g.rc = io.NopCloser(errReader{rerr})
			return 0, rerr
		}
		g.rc = rc
	}
}

func (g *resumingReader) Close() error { return g.rc.Close() }

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// Stat implements backend.Backend.
func (r *Backend) Stat(ctx context.Context, key string) (backend.Info, error) {
	var info backend.Info
	err := r.do(ctx, "stat "+key, func(int) error {
		var err error
		info, err = r.be.Stat(ctx, key)
		return err
	})
	return info, err
}

// callbackError marks an error returned by List's fn, which is never retried.
type callbackError struct{ err error }

func (c callbackError) Error() string { return c.err.Error() }
func (c callbackError) Unwrap() error { return c.err }

// List implements backend.Backend. A listing retried after a failure does
// not pass a key to fn twice.
func (r *Backend) List(ctx context.Context, prefix string, fn func(backend.Info) error) error {
	seen := make(map[string]struct{})
	err := r.do(ctx, "list "+prefix, func(int) error {
		return r.be.List(ctx, prefix, func(i backend.Info) error {
			if _, ok := seen[i.Key]; ok {
				return nil
			}
			seen[i.Key] = struct{}{}
			if err := fn(i); err != nil {
				return fmt.Errorf("%w%w", callbackError{err}, backend.ErrPermanent)
			}
			return nil
		})
	})
	var cb callbackError
	if errors.As(err, &cb) {
		return cb.err
	}
	return err
}

// Delete implements backend.Backend. A retried delete that finds the key
// gone counts as done: the failed attempt probably removed it.
func (r *Backend) Delete(ctx context.Context, key string) error {
	return r.do(ctx, "delete "+key, func(attempt int) error {
		err := r.be.Delete(ctx, key)
		if attempt > 1 && errors.Is(err, backend.ErrNotFound) {
			return nil
		}
		return err
	})
}

// Close implements backend.Backend.
func (r *Backend) Close() error { return r.be.Close() }
