package progress

import (
	"sync/atomic"
	"testing"
	"time"
)

// Reports come at the pace asked, the last one from stop with the final
// counts, and none after stop has returned.
func TestEveryReportsUntilStopped(t *testing.T) {
	var files, calls atomic.Int64
	var last Report
	stop := Every(time.Millisecond, func(r Report) { calls.Add(1); last = r }, func() Report {
		return Report{Files: files.Load()}
	})
	for calls.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	files.Store(42)
	stop()
	n := calls.Load()
	if last.Files != 42 {
		t.Fatalf("last report %+v; want the final count 42", last)
	}
	time.Sleep(20 * time.Millisecond)
	if calls.Load() != n {
		t.Fatalf("%d reports after stop returned", calls.Load()-n)
	}
	Every(time.Millisecond, nil, func() Report { t.Fatal("read without a receiver"); return Report{} })()
}
