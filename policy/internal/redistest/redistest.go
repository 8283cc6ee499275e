// Package redistest connects policy's tests to the test-owned Redis that
// `make test` starts, on database 5 with a key prefix of their own, and
// provides a clock tests can move.
package redistest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/internal/randid"
	"github.com/backupbot/backupbot/internal/testredis"
)

// DB is the Redis database policy's tests use (other packages use others).
const DB = testredis.DBPolicy

// Client returns a client for BACKUPBOT_TEST_REDIS_URL on database DB and
// a key prefix unique to this test; the test's keys are deleted at cleanup.
func Client(t testing.TB) (redis.UniversalClient, string) {
	t.Helper()
	rdb := testredis.Client(t, DB)
	ctx := context.Background()
	name := strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())
	prefix := "backupbot-test:" + name + ":" + randid.Hex(4) + ":"
	t.Cleanup(func() {
		iter := rdb.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	})
	return rdb, prefix
}

// Clock is a settable clock for expiry tests.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts a clock at a fixed instant.
func NewClock() *Clock {
	return &Clock{now: time.Date(2025, 1, 15, 14, 0, 0, 0, time.UTC)}
}

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
