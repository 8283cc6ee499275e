// Package tick runs a function at a steady beat until a context ends (the
// ticker-and-select loop behind the lease keepers, the progress relay and
// the periodic watchers), and sleeps as long as a context lets it.
package tick

import (
	"context"
	"time"
)

// Every calls f every d until ctx is done, then returns. f is not called
// once ctx is done, so f ends the loop by cancelling ctx.
func Every(ctx context.Context, d time.Duration, f func()) {
	Wake(ctx, d, nil, f)
}

// Wake is Every that also calls f at once whenever wake receives (a nil
// wake never does).
func Wake(ctx context.Context, d time.Duration, wake <-chan struct{}, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
		if ctx.Err() != nil {
			return
		}
		f()
	}
}

// Go runs Wake on a goroutine of its own. The returned wait blocks until
// that goroutine has returned (once ctx is done, after a call of f in
// flight), and may be called more than once.
func Go(ctx context.Context, d time.Duration, wake <-chan struct{}, f func()) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		Wake(ctx, d, wake, f)
	}()
	return func() { <-done }
}

// Sleep waits d (a booked slot, a platform's retry-after), or until ctx
// ends: then it returns ctx's error.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-time.After(d): // collected once it fires or is unreachable (Go 1.23)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
