package jobs

import (
	"context"
	"sync"
	"testing"
	"time"
)

// A relay that stops gets, when it comes back under the same group, the
// events it was handed but never acknowledged and those published while
// it was away; acknowledged ones are not delivered again.
func TestConsumeResumesAfterARestart(t *testing.T) {
	rdb := testRedis(t)
	ctx := context.Background()
	type got struct {
		ev  Event
		ack func()
	}
	consume := func() (chan got, context.CancelFunc, *sync.WaitGroup) {
		ch := make(chan got, 16)
		cctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() {
			_ = Consume(cctx, rdb, ConsumeOptions{Group: "relay:test"}, func(ev Event, ack func()) {
				if ev.Kind != EventProgress {
					ch <- got{ev, ack}
				}
			})
		})
		return ch, cancel, &wg
	}
	next := func(ch chan got) got {
		t.Helper()
		select {
		case g := <-ch:
			return g
		case <-time.After(5 * time.Second):
			t.Fatal("no event delivered within 5 s")
			return got{}
		}
	}
	ev := func(id string, k EventKind) Event { return Event{Kind: k, Meta: Meta{JobID: id}} }

	ch, stop, wg := consume()
	time.Sleep(200 * time.Millisecond) // the group exists
	if err := publish(ctx, rdb, ev("aaaa0001", EventStarted)); err != nil {
		t.Fatal(err)
	}
	_ = publish(ctx, rdb, ev("aaaa0001", EventProgress))
	if g := next(ch); g.ev.Meta.JobID != "aaaa0001" {
		t.Fatalf("got %+v", g.ev)
	} // not acknowledged: the process "dies" while posting
	stop()
	wg.Wait()

	if err := publish(ctx, rdb, ev("aaaa0001", EventSucceeded)); err != nil { // while nobody reads
		t.Fatal(err)
	}
	ch, stop, wg = consume()
	first, second := next(ch), next(ch)
	if first.ev.Kind != EventStarted || second.ev.Kind != EventSucceeded {
		t.Fatalf("after the restart: %s then %s, want the unacknowledged started, then the succeeded published meanwhile", first.ev.Kind, second.ev.Kind)
	}
	first.ack()
	second.ack()
	stop()
	wg.Wait()

	ch, stop, wg = consume()
	defer func() { stop(); wg.Wait() }()
	select {
	case g := <-ch:
		t.Fatalf("an acknowledged event came again: %+v", g.ev)
	case <-time.After(1500 * time.Millisecond):
	}
}
