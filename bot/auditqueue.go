package bot

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/backupbot/backupbot/policy/audit"
)

// auditBacklog bounds the audit entries waiting to be written; when it is
// full, entries are written by the caller (slower, never lost).
const auditBacklog = 4096

// auditWriter writes the router's audit entries in the background, in
// order, so an acknowledgement never waits on the audit file or Redis.
type auditWriter struct {
	log    *audit.Log
	logger *slog.Logger
	ch     chan audit.Entry
	start  sync.Once

	mu      sync.Mutex
	queued  uint64        // entries handed to add
	written uint64        // entries written (or given up on)
	changed chan struct{} // closed and replaced whenever written grows
}

func newAuditWriter(l *audit.Log, logger *slog.Logger) *auditWriter {
	return &auditWriter{log: l, logger: logger, ch: make(chan audit.Entry, auditBacklog), changed: make(chan struct{})}
}

// done counts one entry as written and wakes flushers.
func (w *auditWriter) done() {
	w.mu.Lock()
	w.written++
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}

// add queues e (stamped now, so its time is when it happened).
func (w *auditWriter) add(ctx context.Context, e audit.Entry) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	w.start.Do(func() { go w.run() })
	w.mu.Lock()
	w.queued++
	w.mu.Unlock()
	select {
	case w.ch <- e:
	default:
		w.write(ctx, e)
		w.done()
	}
}

func (w *auditWriter) run() {
	for e := range w.ch {
		w.write(context.Background(), e)
		w.done()
	}
}

func (w *auditWriter) write(ctx context.Context, e audit.Entry) {
	if err := w.log.Record(ctx, e); err != nil {
		w.logger.Warn("router: writing the audit log", "kind", e.Kind, "err", err)
	}
}

// flush waits, at most until ctx ends, for the queued entries to be written.
func (w *auditWriter) flush(ctx context.Context) {
	w.mu.Lock()
	target := w.queued
	w.mu.Unlock()
	for {
		w.mu.Lock()
		written, changed := w.written, w.changed
		w.mu.Unlock()
		if written >= target {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}

// auditWait bounds how long an answer waits for its audit entries.
const auditWait = 100 * time.Millisecond

// auditWritten waits, briefly, for the audit entries queued so far to be
// written, so that normally a command's decision is on record before its
// answer is; under load the answer goes out after auditWait and the entry
// follows (it is never dropped).
func (r *Router) auditWritten(ctx context.Context) {
	if r.auditQ == nil {
		return
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditWait)
	defer cancel()
	r.auditQ.flush(wctx)
}
