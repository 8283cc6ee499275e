package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/internal/redisurl"
)

// redisConn is the service's connection to Redis: asynq's options and the
// client for backupbot's own keys, plus the embedded server when there is
// no REDIS_URL.
type redisConn struct {
	opt      asynq.RedisConnOpt
	rdb      redis.UniversalClient
	embedded *miniredis.Miniredis
	// where names the server for logs, without any password.
	where string
	// conn makes more clients of the same servers (separatePool).
	conn *redisurl.Conn
}

// connectRedis uses REDIS_URL (one server, Sentinel or Cluster: see
// internal/redisurl), or starts an embedded miniredis when it is
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
	conn, err := redisurl.Parse(raw)
	if err != nil {
		c.close()
		return nil, err
	}
	if conn.Kind == redisurl.Cluster {
		// asynq would work, but backupbot's own job records, locks and
		// approvals change several keys in one Lua script or transaction,
		// and those keys do not share a hash slot (no {hash tag}), so a
		// cluster would refuse them with CROSSSLOT errors mid-job.
		c.close()
		return nil, fmt.Errorf("REDIS_URL %s: Redis Cluster is not supported yet (backupbot's job records update keys "+
			"that live in different hash slots); for high availability use Sentinel: "+
			"redis-sentinel://host1:26379,host2:26379,host3:26379/mymaster", conn.Where)
	}
	c.opt = conn.Asynq
	c.rdb = conn.NewClient()
	c.where = conn.Where
	c.conn = conn
	return c, nil
}

// separatePool returns another client on the same Redis with a pool of
// its own, so that one kind of traffic (the relay's blocking reads and
// posting bookkeeping) cannot take connections another (enqueueing on the
// acknowledgement path) needs. The caller closes it.
func (c *redisConn) separatePool() redis.UniversalClient {
	return c.conn.NewClient()
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
