package discord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/backupbot/backupbot/bot"
)

// editTimeout bounds one edit call made on behalf of callers that may
// already have gone.
const editTimeout = 30 * time.Second

// editor sends message edits (PATCH /channels/{id}/messages/{id}): per
// message at most one per interval, the newest state winning when edits
// pile up, and after a 429 not before Discord's retry_after. One goroutine
// per message with pending edits does the sending, so a caller that gives
// up does not lose its state.
type editor struct {
	api      *restClient
	ids      *customIDs
	interval time.Duration
	log      *slog.Logger

	mu      sync.Mutex
	msgs    map[string]*editState
	senders sync.WaitGroup
}

// editState is what the editor knows about one message.
type editState struct {
	channel   string       // the Discord channel the message is in
	id        string       // the message id
	pending   *bot.Message // newest state not yet sent
	waiters   []chan error // callers whose state is pending or being sent
	sending   bool         // a sender goroutine owns this message
	notBefore time.Time    // earliest time for the next edit
}

func newEditor(api *restClient, ids *customIDs, interval time.Duration, log *slog.Logger) *editor {
	return &editor{api: api, ids: ids, interval: interval, log: log, msgs: map[string]*editState{}}
}

// edit queues msg as the newest state of message id in channel and waits
// until it (or a newer state) has been sent, or ctx ends; the state is
// sent either way.
func (e *editor) edit(ctx context.Context, channel, id string, msg bot.Message) error {
	done := make(chan error, 1)
	e.mu.Lock()
	e.prune(time.Now())
	key := channel + "/" + id
	st, ok := e.msgs[key]
	if !ok {
		st = &editState{channel: channel, id: id}
		e.msgs[key] = st
	}
	st.pending = &msg
	st.waiters = append(st.waiters, done)
	if !st.sending {
		st.sending = true
		e.senders.Add(1)
		go e.send(context.WithoutCancel(ctx), st)
	}
	e.mu.Unlock()

	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("discord: waiting for the edit of message %s to be sent (it still will be): %w", id, ctx.Err())
	}
}

// prune forgets messages with nothing pending whose throttle has passed.
func (e *editor) prune(now time.Time) {
	for k, st := range e.msgs {
		if !st.sending && now.After(st.notBefore) {
			delete(e.msgs, k)
		}
	}
}

// send owns st until nothing is pending: it waits for the throttle, takes
// the newest state and sends it, requeueing it after a 429 unless a newer
// one arrived meanwhile.
func (e *editor) send(ctx context.Context, st *editState) {
	defer e.senders.Done()
	limited := 0
	for {
		e.mu.Lock()
		wait := time.Until(st.notBefore)
		e.mu.Unlock()
		if wait > 0 {
			_ = sleep(ctx, wait) // ctx is detached from callers: never cancelled
		}

		e.mu.Lock()
		msg, waiters := st.pending, st.waiters
		st.pending, st.waiters = nil, nil
		if msg == nil {
			st.sending = false
			e.mu.Unlock()
			return
		}
		e.mu.Unlock()

		callCtx, cancel := context.WithTimeout(ctx, editTimeout)
		_, err := e.api.once(callCtx, request{
			Method: "PATCH",
			Path:   "/channels/" + st.channel + "/messages/" + st.id,
			JSON:   e.ids.render(*msg).edit(),
			What:   fmt.Sprintf("discord: editing message %s in channel %s", st.id, st.channel),
		})
		cancel()

		if rl, ok := errors.AsType[*rateLimitedError](err); ok && limited < maxRateLimitRetries {
			limited++
			e.log.Info("discord: edit rate limited, will send the newest state after the wait",
				slog.String("channel", st.channel), slog.String("message", st.id), slog.Duration("retry_after", rl.RetryAfter))
			e.mu.Lock()
			if st.pending == nil {
				st.pending = msg
			}
			st.waiters = append(waiters, st.waiters...)
			st.notBefore = time.Now().Add(rl.RetryAfter)
			e.mu.Unlock()
			continue
		}
		limited = 0
		if err != nil {
			e.log.Warn("discord: an edit failed", slog.String("channel", st.channel), slog.String("message", st.id),
				slog.String("error", err.Error()))
		}
		e.mu.Lock()
		st.notBefore = time.Now().Add(e.interval)
		e.mu.Unlock()
		for _, w := range waiters {
			w <- err
		}
	}
}

// wait blocks until every queued edit has been sent.
func (e *editor) wait() { e.senders.Wait() }
