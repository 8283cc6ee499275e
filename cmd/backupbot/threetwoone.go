package main

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/jobs"
)

// threeTwoOne evaluates a target's 3-2-1 line for the compliance report
// (at once, in the worker running it) and for the dashboard (from a
// cache: evaluating opens every storage that counts, too slow for a page
// that refreshes every 30 s).
type threeTwoOne struct {
	deps jobs.Deps
	rdb  redis.UniversalClient
	ttl  time.Duration

	mu      sync.Mutex
	lines   map[string]cachedLine
	pending map[string]bool
}

type cachedLine struct {
	line string
	at   time.Time
}

func newThreeTwoOne(deps jobs.Deps, rdb redis.UniversalClient) *threeTwoOne {
	return &threeTwoOne{deps: deps, rdb: rdb, ttl: 5 * time.Minute,
		lines: map[string]cachedLine{}, pending: map[string]bool{}}
}

// Now evaluates target's line, taking up to two minutes.
func (c *threeTwoOne) Now(target string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	line := jobs.ThreeTwoOne(ctx, c.deps, c.rdb, target).Line()
	c.mu.Lock()
	c.lines[target] = cachedLine{line: line, at: time.Now()}
	c.mu.Unlock()
	return line
}

// Cached returns the last line evaluated for target ("checking…" before
// the first) and evaluates it again in the background when it is older
// than the cache's lifetime.
func (c *threeTwoOne) Cached(target string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	got, ok := c.lines[target]
	if (!ok || time.Since(got.at) > c.ttl) && !c.pending[target] {
		c.pending[target] = true
		go func() {
			c.Now(target)
			c.mu.Lock()
			delete(c.pending, target)
			c.mu.Unlock()
		}()
	}
	if !ok {
		return "checking…"
	}
	return got.line
}
