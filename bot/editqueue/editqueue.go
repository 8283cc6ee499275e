// Package editqueue sends in-place message edits for chat adapters: per
// message at most one edit per interval, the newest state winning when
// edits pile up, and after a rate limit not before the platform's
// retry-after. One goroutine per message with pending edits does the
// sending, so a caller that stops waiting does not lose its state, and
// the last state always lands.
package editqueue

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/internal/tick"
)

// callTimeout bounds one send made on behalf of callers that may already
// have gone.
const callTimeout = 30 * time.Second

// SendFunc sends one edit of ref. When the platform rate-limited the call
// it returns retryAfter > 0 (and any error); the queue then waits that long
// and sends the newest state again.
type SendFunc func(ctx context.Context, ref bot.MessageRef, msg bot.Message) (retryAfter time.Duration, err error)

// Queue throttles and coalesces edits. The zero value is not usable; call New.
type Queue struct {
	send       SendFunc
	interval   time.Duration
	maxRetries int
	log        *slog.Logger

	mu      sync.Mutex
	msgs    map[string]*state
	senders sync.WaitGroup
}

// state is what the queue knows about one message.
type state struct {
	ref       bot.MessageRef
	pending   *bot.Message // newest state not yet sent
	waiters   []chan error // callers whose state is pending or being sent
	sending   bool         // a sender goroutine owns this message
	notBefore time.Time    // earliest time for the next send
}

// New returns a queue that sends through send at most once per interval
// per message and gives up on one state after maxRetries rate limits in a row.
func New(send SendFunc, interval time.Duration, maxRetries int, log *slog.Logger) *Queue {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Queue{send: send, interval: interval, maxRetries: maxRetries, log: log, msgs: map[string]*state{}}
}

// Edit queues msg as the newest state of ref and waits until it (or a
// newer state) has been sent, or ctx ends; the state is sent either way.
func (q *Queue) Edit(ctx context.Context, ref bot.MessageRef, msg bot.Message) error {
	done := make(chan error, 1)
	q.mu.Lock()
	q.prune(time.Now())
	key := ref.Channel + "/" + ref.ID
	st, ok := q.msgs[key]
	if !ok {
		st = &state{ref: ref}
		q.msgs[key] = st
	}
	st.pending = &msg
	st.waiters = append(st.waiters, done)
	if !st.sending {
		st.sending = true
		q.senders.Add(1)
		go q.run(context.WithoutCancel(ctx), st)
	}
	q.mu.Unlock()

	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("waiting for the edit of message %s to be sent (it still will be): %w", ref.ID, ctx.Err())
	}
}

// Wait blocks until every queued edit has been sent.
func (q *Queue) Wait() { q.senders.Wait() }

// prune forgets messages with nothing pending whose throttle has passed.
func (q *Queue) prune(now time.Time) {
	for k, st := range q.msgs {
		if !st.sending && now.After(st.notBefore) {
			delete(q.msgs, k)
		}
	}
}

// run owns st until nothing is pending: it waits for the throttle, takes
// the newest state and sends it, requeueing it after a rate limit unless a
// newer one arrived meanwhile.
func (q *Queue) run(ctx context.Context, st *state) {
	defer q.senders.Done()
	limited := 0
	for {
		q.mu.Lock()
		wait := time.Until(st.notBefore)
		q.mu.Unlock()
		if wait > 0 {
			_ = tick.Sleep(ctx, wait) // ctx is detached from callers: never cancelled
		}

		q.mu.Lock()
		msg, waiters := st.pending, st.waiters
		st.pending, st.waiters = nil, nil
		if msg == nil {
			st.sending = false
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()

		callCtx, cancel := context.WithTimeout(ctx, callTimeout)
		retryAfter, err := q.send(callCtx, st.ref, *msg)
		cancel()

		if retryAfter > 0 && limited < q.maxRetries {
			limited++
			q.log.Info("edit rate limited, will send the newest state after the wait",
				slog.String("channel", st.ref.Channel), slog.String("message", st.ref.ID), slog.Duration("retry_after", retryAfter))
			q.mu.Lock()
			if st.pending == nil {
				st.pending = msg
			}
			st.waiters = append(waiters, st.waiters...)
			st.notBefore = time.Now().Add(retryAfter)
			q.mu.Unlock()
			continue
		}
		limited = 0
		q.mu.Lock()
		st.notBefore = time.Now().Add(q.interval)
		q.mu.Unlock()
		for _, w := range waiters {
			w <- err
		}
	}
}
