package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// redisConn is the service's connection to Redis: asynq's options and the
// client for backupbot's own keys, plus the embedded server when there is
// no REDIS_URL.
type redisConn struct {
	opt      asynq.RedisConnOpt
	rdb      *redis.Client
	embedded *miniredis.Miniredis
	// where names the server for logs, without any password.
	where string
}

// connectRedis uses REDIS_URL, or starts an embedded miniredis when it is
// unset (`make run` on a fresh machine). Clients reconnect by themselves
// after an outage, so this does not wait for the server to answer.
func connectRedis(logger *slog.Logger) (*redisConn, error) {
	raw := os.Getenv("REDIS_URL")
	c := &redisConn{}
	if raw == "" {
		m := miniredis.NewMiniRedis()
		// asynq's unique-task and lease keys must expire as the wall clock
		// runs; miniredis only ages TTLs with ClockTTL.
		m.ClockTTL(true)
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("starting the embedded Redis (miniredis): %w", err)
		}
		c.embedded = m
		raw = "redis://" + m.Addr() + "/0"
		logger.Warn("REDIS_URL is unset: using an EMBEDDED in-memory Redis (miniredis). " +
			"Queued and running jobs, schedules and approvals DIE WITH THIS PROCESS. " +
			"Set REDIS_URL=redis://HOST:6379/0 for anything but a try-out.")
	}
	opt, err := asynq.ParseRedisURI(raw)
	if err != nil {
		c.close()
		return nil, fmt.Errorf("REDIS_URL is not a Redis URL asynq understands (redis://[:password@]host:port[/db]): %w", err)
	}
	ropt, err := redis.ParseURL(raw)
	if err != nil {
		c.close()
		return nil, fmt.Errorf("REDIS_URL is not a valid Redis URL (redis://[:password@]host:port[/db]): %w", err)
	}
	c.opt = opt
	// Calls honour their context's deadline on the socket too, so a call
	// given up on (an ack that ran out of time) frees its connection at
	// once instead of holding it for the read timeout.
	ropt.ContextTimeoutEnabled = true
	c.rdb = redis.NewClient(ropt)
	c.where = redactURL(raw)
	return c, nil
}

// separatePool returns another client on the same Redis with a pool of
// its own, so that one kind of traffic (the relay's blocking reads and
// posting bookkeeping) cannot take connections another (enqueueing on the
// acknowledgement path) needs. The caller closes it.
func (c *redisConn) separatePool() *redis.Client {
	return redis.NewClient(c.rdb.Options())
}

// ping reports whether Redis answers (for /readyz).
func (c *redisConn) ping(ctx context.Context) error {
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("Redis at %s does not answer: %w", c.where, err)
	}
	return nil
}

func (c *redisConn) close() {
	if c.rdb != nil {
		_ = c.rdb.Close()
	}
	if c.embedded != nil {
		c.embedded.Close()
	}
}

// redactURL drops the password from a Redis URL so it can be logged.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	return u.Redacted()
}
