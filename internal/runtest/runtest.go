// Package runtest runs a service loop (a worker, a router, a scheduler) in
// the background of a test: started on its own goroutine, stopped by
// cancelling its context, and its error reported when it stops.
package runtest

import (
	"context"
	"sync"
	"testing"
)

// Go runs run on a goroutine until stop is called or the test ends, whichever
// is first; an error run returns then fails the test, named by what. stop
// waits for run to return and may be called more than once.
func Go(t testing.TB, what string, run func(ctx context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", what, err)
		}
	})
	t.Cleanup(stop)
	return stop
}
