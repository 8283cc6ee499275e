package jobs

import (
	"context"
	"sync"
	"time"

	"github.com/backupbot/backupbot/internal/tick"
	"github.com/backupbot/backupbot/storage/engine"
)

// progressRelay throttles a job's progress reports: the engine may report
// thousands of times a second; subscribers get at most one report per
// interval, plus one at every phase change, and the job's status record
// is updated alongside. Rate is a moving average of bytes per second;
// ETA follows from it and the bytes left.
type progressRelay struct {
	emit func(Progress) // publishes and records; called from one goroutine

	mu       sync.Mutex
	latest   Progress
	dirty    bool
	phase    string
	sampleAt time.Time // last rate sample
	sampleB  int64
	rate     float64
	kick     chan struct{}
	stop     context.CancelFunc
	wait     func()
}

// startProgressRelay starts a relay that emits on its own goroutine until
// ctx is done or finish is called.
func startProgressRelay(ctx context.Context, interval time.Duration, emit func(Progress)) *progressRelay {
	r := &progressRelay{emit: emit, kick: make(chan struct{}, 1)}
	ctx, r.stop = context.WithCancel(ctx)
	r.wait = tick.Go(ctx, interval, r.kick, r.flush)
	return r
}

// update records a report, adding the rate and ETA; it never blocks on
// Redis.
func (r *progressRelay) update(ep engine.Progress) {
	now := time.Now()
	p := Progress{Progress: ep}
	r.mu.Lock()
	if r.sampleAt.IsZero() || p.Phase != r.phase || p.Bytes < r.sampleB {
		r.sampleAt, r.sampleB = now, p.Bytes
		if p.Phase != r.phase {
			r.rate = 0
		}
	} else if dt := now.Sub(r.sampleAt); dt >= 250*time.Millisecond {
		inst := float64(p.Bytes-r.sampleB) / dt.Seconds()
		if r.rate == 0 {
			r.rate = inst
		} else {
			r.rate = 0.7*r.rate + 0.3*inst
		}
		r.sampleAt, r.sampleB = now, p.Bytes
	}
	p.Rate = r.rate
	p.ETA = 0
	if p.BytesTotal > p.Bytes && r.rate > 0 {
		p.ETA = time.Duration(float64(p.BytesTotal-p.Bytes) / r.rate * float64(time.Second)).Round(time.Second)
	}
	phaseChanged := p.Phase != r.phase
	r.phase = p.Phase
	r.latest, r.dirty = p, true
	r.mu.Unlock()
	if phaseChanged {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
}

// flush emits the latest report, if there is a new one.
func (r *progressRelay) flush() {
	r.mu.Lock()
	p, dirty := r.latest, r.dirty
	r.dirty = false
	r.mu.Unlock()
	if dirty {
		r.emit(p)
	}
}

// finish stops the relay and waits for an emit in flight, so no progress
// event follows the job's final event.
func (r *progressRelay) finish() {
	r.stop()
	r.wait()
}
