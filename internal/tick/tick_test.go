package tick

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// f runs on the beat and on a wake, stops when f cancels the context, and
// is not called again after that; wait returns once the loop has ended.
func TestGo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wake := make(chan struct{})
	var calls atomic.Int32
	wait := Go(ctx, time.Hour, wake, func() {
		if calls.Add(1) == 2 {
			cancel()
		}
	})
	wake <- struct{}{}
	wake <- struct{}{}
	wait()
	wait()
	if n := calls.Load(); n != 2 {
		t.Fatalf("f ran %d times, want 2 (two wakes, none after the cancel)", n)
	}

	ctx2, cancel2 := context.WithCancel(context.Background())
	var beats atomic.Int32
	wait = Go(ctx2, time.Millisecond, nil, func() { beats.Add(1) })
	for beats.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	cancel2()
	wait()
	n := beats.Load()
	time.Sleep(5 * time.Millisecond)
	if beats.Load() != n {
		t.Fatal("f ran after wait returned")
	}
}

// Sleep returns nil once d has passed, and the context's error at once when
// the context ends first (or has ended).
func TestSleep(t *testing.T) {
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("Sleep 1ms = %v, want nil", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(10 * time.Millisecond); cancel() }()
	start := time.Now()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep cancelled = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Sleep went on %v after its context ended", d)
	}
	if err := Sleep(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep(0) on an ended context = %v, want context.Canceled", err)
	}
}
