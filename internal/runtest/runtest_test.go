package runtest

import (
	"context"
	"sync/atomic"
	"testing"
)

// stop cancels the loop's context and returns only once the loop has
// returned; a second stop (and the test's cleanup) does nothing more.
func TestGoStopsAndWaits(t *testing.T) {
	var ended atomic.Bool
	started := make(chan struct{})
	stop := Go(t, "loop", func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		ended.Store(true)
		return nil
	})
	<-started
	stop()
	if !ended.Load() {
		t.Fatal("stop returned before the loop had ended")
	}
	stop()
}
