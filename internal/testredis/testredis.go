// Package testredis connects tests to the Redis that `make test` starts
// (BACKUPBOT_TEST_REDIS_URL). Each package whose tests use Redis owns one
// database, listed here, so packages tested in parallel never see each
// other's keys and a test may empty its own database.
package testredis

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
)

// The databases, one per test suite (Redis has 16 by default).
const (
	DBJobs           = 2  // jobs
	DBBackupbot      = 3  // cmd/backupbot
	DBSlack          = 4  // bot/slack
	DBPolicy         = 5  // policy and its sub-packages (they clean up by key prefix)
	DBBot            = 6  // bot
	DBSlackApprovals = 7  // bot/slack approval flows
	DBDiscord        = 8  // bot/discord
	DBBotAudit       = 9  // bot audit session
	DBAlerts         = 10 // alerts (job metrics and incidents)
	DBBackupctl      = 11 // cmd/backupctl (the chat-and-terminal table test)
)

// URL returns the test Redis's URL pointed at database db. The test fails
// (never skips) when `make test` did not provide one.
func URL(t testing.TB, db int) string {
	t.Helper()
	raw := os.Getenv("BACKUPBOT_TEST_REDIS_URL")
	if raw == "" {
		t.Fatal("BACKUPBOT_TEST_REDIS_URL is unset: run `make test`, which starts a test-owned Redis " +
			"(or `eval \"$(bash scripts/services/redis.sh start)\"` first)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("BACKUPBOT_TEST_REDIS_URL %q: %v", raw, err)
	}
	u.Path = fmt.Sprintf("/%d", db)
	return u.String()
}

// Client returns a client on database db that answered PING; it is closed
// when the test ends.
func Client(t testing.TB, db int) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(URL(t, db))
	if err != nil {
		t.Fatalf("test Redis URL: %v", err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("the test Redis at %s does not answer: %v (run `make test`, or `bash scripts/services/redis.sh start`)", opt.Addr, err)
	}
	return rdb
}

// Flushed is Client after emptying database db.
func Flushed(t testing.TB, db int) *redis.Client {
	t.Helper()
	rdb := Client(t, db)
	if err := rdb.FlushDB(context.Background()).Err(); err != nil {
		t.Fatalf("emptying test Redis database %d: %v", db, err)
	}
	return rdb
}
