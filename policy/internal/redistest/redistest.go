// Package redistest connects policy's tests to the test-owned Redis that
// `make test` starts, on database 5 with a key prefix of their own, and
// provides a clock tests can move.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// DB is the Redis database policy's tests use (other packages use others).
const DB = 5

// Client returns a client for BACKUPBOT_TEST_REDIS_URL on database DB and
// a key prefix unique to this test; the test's keys are deleted at cleanup.
func Client(t testing.TB) (redis.UniversalClient, string) {
	t.Helper()
	url := os.Getenv("BACKUPBOT_TEST_REDIS_URL")
	if url == "" {
		t.Fatal("BACKUPBOT_TEST_REDIS_URL is unset: run `make test`, which starts a test-owned Redis " +
			"(or `eval \"$(bash scripts/services/redis.sh start)\"` first)")
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("BACKUPBOT_TEST_REDIS_URL=%q does not parse: %v", url, err)
	}
	opt.DB = DB
	rdb := redis.NewClient(opt)
	ctx := context.Background()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("the test Redis at %s does not answer: %v (start it with `bash scripts/services/redis.sh start`)", url, err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())
	prefix := "backupbot-test:" + name + ":" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		iter := rdb.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		_ = rdb.Close()
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
