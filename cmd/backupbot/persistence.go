package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// errNoPersistence is the /readyz warning for a Redis that keeps nothing
// across a restart.
var errNoPersistence = errors.New("Redis has no persistence (appendonly no): a restart loses every queued and running job; " +
	"production Redis needs AOF (appendonly yes)")

// persistence reports, for /readyz's warnings, a Redis that loses its data
// when it restarts. It asks CONFIG GET appendonly and, where CONFIG is
// disabled or renamed (managed Redis services), INFO persistence.
func (c *redisConn) persistence(ctx context.Context) error {
	if c.embedded != nil {
		return errors.New("the embedded in-memory Redis (miniredis) has no persistence: jobs die with this process; set REDIS_URL to a Redis with AOF (appendonly yes)")
	}
	if m, err := c.rdb.ConfigGet(ctx, "appendonly").Result(); err == nil {
		if v, ok := m["appendonly"]; ok {
			if strings.EqualFold(v, "yes") {
				return nil
			}
			return errNoPersistence
		}
	}
	info, err := c.rdb.Info(ctx, "persistence").Result()
	if err != nil {
		return fmt.Errorf("cannot tell whether Redis persists its data (CONFIG GET and INFO persistence both failed): %w", err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "aof_enabled:"); ok {
			if v == "1" {
				return nil
			}
			return errNoPersistence
		}
	}
	return errors.New("cannot tell whether Redis persists its data: INFO persistence has no aof_enabled line")
}
