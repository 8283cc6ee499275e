package editqueue

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot"
)

// recorder is a platform that records the states it was sent and can be
// told to rate-limit the next calls.
type recorder struct {
	mu      sync.Mutex
	sent    []string
	limitN  int
	limited int
}

func (r *recorder) send(_ context.Context, _ bot.MessageRef, msg bot.Message) (time.Duration, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.limitN > 0 {
		r.limitN--
		r.limited++
		return 20 * time.Millisecond, errors.New("429")
	}
	r.sent = append(r.sent, msg.Text)
	return 0, nil
}

func (r *recorder) states() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.sent...)
}

func TestEditsArriveCoalescedAndTheLastStateLands(t *testing.T) {
	r := &recorder{}
	inFirst, release := make(chan struct{}), make(chan struct{})
	first := true
	send := func(ctx context.Context, ref bot.MessageRef, msg bot.Message) (time.Duration, error) {
		if first { // hold the first send until the other states are queued
			first = false
			close(inFirst)
			<-release
		}
		return r.send(ctx, ref, msg)
	}
	q := New(send, time.Millisecond, 5, nil)
	ref := bot.MessageRef{Channel: "C1", ID: "m1"}
	go func() { _ = q.Edit(context.Background(), ref, bot.Message{Text: "1"}) }()
	<-inFirst
	// Four more states while "1" is being sent: callers that stop waiting
	// at once still have their state queued, and only the newest is sent.
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	for _, s := range []string{"2", "3", "4", "5"} {
		_ = q.Edit(gone, ref, bot.Message{Text: s})
	}
	close(release)
	q.Wait()
	if got := r.states(); len(got) != 2 || got[0] != "1" || got[1] != "5" {
		t.Fatalf("sent %v, want [1 5]: the states queued meanwhile coalesce into the newest", got)
	}
}

func TestRateLimitedStateIsSentAfterTheWait(t *testing.T) {
	r := &recorder{limitN: 2}
	q := New(r.send, time.Millisecond, 5, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	// The caller gives up before the rate limit is over; the state still lands.
	_ = q.Edit(ctx, bot.MessageRef{Channel: "C1", ID: "m1"}, bot.Message{Text: "final"})
	q.Wait()
	if got := r.states(); len(got) != 1 || got[0] != "final" || r.limited != 2 {
		t.Fatalf("sent %v after %d rate limits, want [final] after 2", got, r.limited)
	}
}
