package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ConsumeOptions configure Consume.
type ConsumeOptions struct {
	// Group names the consumer group on the lifecycle stream. Give every
	// relay process its own group with a name that stays the same across
	// its restarts (the service uses "relay:" + the instance name), so a
	// restarted process resumes where it stopped. Required.
	Group string
	// RetryDelay is the pause after a Redis error before trying again
	// (default 500 ms).
	RetryDelay time.Duration
	// OnError, when set, is told about each Redis error (consuming keeps
	// going).
	OnError func(error)
}

// Consume calls fn with every job event until ctx is done, then returns
// ctx's error.
//
// Lifecycle events (everything but progress) are read through the
// consumer group o.Group: first those this group was handed before but
// never acknowledged (the process stopped while posting them), then every
// one published since the group last read, including those published while
// the process was down. Each stays pending in Redis until fn's ack is
// called, so call it once the event has been posted; an event that is
// never acknowledged is delivered again when the process restarts. A group
// that does not exist yet starts at the stream's end; one lost with a
// Redis that restarted without persistence starts again at the beginning.
//
// Progress events are read from the tail of their own stream, may be lost
// (they are superseded by the next one) and have a no-op ack.
//
// fn is called from two goroutines (lifecycle and progress); keep it quick
// or hand off. Consume survives Redis outages: it retries by itself.
func Consume(ctx context.Context, rdb redis.UniversalClient, o ConsumeOptions, fn func(ev Event, ack func())) error {
	if o.Group == "" {
		return errors.New("consume job events: no consumer group name")
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = 500 * time.Millisecond
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = tail(ctx, rdb, SubscribeOptions{RetryDelay: o.RetryDelay, OnError: o.OnError}, []string{progressStream}, func(ev Event) {
			fn(ev, func() {})
		})
	})
	defer wg.Wait()
	c := consumer{rdb: rdb, o: o}
	return c.run(ctx, fn)
}

type consumer struct {
	rdb redis.UniversalClient
	o   ConsumeOptions
}

// createGroup makes the group, starting at start ("$": new events only;
// "0": every event in the stream); an existing group is kept as it is.
func (c consumer) createGroup(ctx context.Context, start string) error {
	err := c.rdb.XGroupCreateMkStream(ctx, eventsStream, c.o.Group, start).Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("create consumer group %s on %s: %w", c.o.Group, eventsStream, err)
	}
	return nil
}

func (c consumer) run(ctx context.Context, fn func(Event, func())) error {
	// Until the group exists, keep trying (Redis may be down at start).
	for {
		err := c.createGroup(ctx, "$")
		if err == nil {
			break
		}
		if !c.pause(ctx, err) {
			return ctx.Err()
		}
	}
	c.pruneGroups(ctx)
	// First re-read what was handed to us and never acknowledged, from
	// pendingFrom on; then new entries (">").
	pending, pendingFrom := true, "0"
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		id := ">"
		block := time.Second
		if pending {
			id, block = pendingFrom, -1
		}
		res, err := c.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: c.o.Group, Consumer: c.o.Group, Streams: []string{eventsStream, id}, Count: 100, Block: block,
		}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if strings.Contains(err.Error(), "NOGROUP") {
				// Redis lost the group (and the stream) in a restart
				// without persistence: everything in the stream now is new.
				if err := c.createGroup(ctx, "0"); err == nil {
					continue
				}
			}
			if !c.pause(ctx, err) {
				return ctx.Err()
			}
			continue
		}
		n := 0
		for _, s := range res {
			for _, m := range s.Messages {
				n++
				pendingFrom = m.ID
				ack := c.acker(ctx, m.ID)
				if len(m.Values) == 0 {
					ack() // trimmed from the stream while pending: nothing to post
					continue
				}
				ev, err := decodeEvent(m)
				if err != nil {
					if c.o.OnError != nil {
						c.o.OnError(err)
					}
					ack()
					continue
				}
				fn(ev, ack)
			}
		}
		if pending && n == 0 {
			pending = false
		}
	}
}

// acker returns the ack of one entry: XACK, retried a little through a
// Redis blink (an entry left pending is posted again after a restart).
func (c consumer) acker(ctx context.Context, id string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			wait := 100 * time.Millisecond
			for {
				err := c.rdb.XAck(actx, eventsStream, c.o.Group, id).Err()
				if err == nil || actx.Err() != nil {
					return
				}
				select {
				case <-actx.Done():
					return
				case <-time.After(wait):
				}
				wait = min(2*wait, 2*time.Second)
			}
		})
	}
}

func (c consumer) pause(ctx context.Context, err error) bool {
	if c.o.OnError != nil {
		c.o.OnError(fmt.Errorf("read job events from Redis: %w", err))
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(c.o.RetryDelay):
		return true
	}
}

// staleGroupAfter is how long a consumer group must have had no reader
// before another relay removes it (its process is gone for good).
const staleGroupAfter = 7 * 24 * time.Hour

// pruneGroups removes the consumer groups of relays that have not read for
// staleGroupAfter, so processes that were renamed or retired leave nothing
// behind.
func (c consumer) pruneGroups(ctx context.Context) {
	groups, err := c.rdb.XInfoGroups(ctx, eventsStream).Result()
	if err != nil {
		return
	}
	for _, g := range groups {
		if g.Name == c.o.Group || !strings.HasPrefix(g.Name, "relay:") {
			continue
		}
		consumers, err := c.rdb.XInfoConsumers(ctx, eventsStream, g.Name).Result()
		if err != nil {
			continue
		}
		stale := len(consumers) > 0 // a group nobody read yet may be brand new
		for _, cs := range consumers {
			if cs.Idle < staleGroupAfter {
				stale = false
			}
		}
		if stale {
			_ = c.rdb.XGroupDestroy(ctx, eventsStream, g.Name).Err()
		}
	}
}
