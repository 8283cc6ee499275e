package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// /readyz's persistence warning reads CONFIG GET appendonly, and INFO
// persistence where CONFIG is disabled (renamed away, as managed Redis
// services do).
func TestPersistenceCheckWithAndWithoutConfig(t *testing.T) {
	bin := os.Getenv("BACKUPBOT_TEST_REDIS_SERVER")
	if bin == "" {
		t.Fatal("BACKUPBOT_TEST_REDIS_SERVER is unset: run `make test` (or `eval \"$(bash scripts/services/redis.sh start)\"`)")
	}
	for _, tc := range []struct {
		name      string
		args      []string
		wantWarn  bool
		configOff bool
	}{
		{"aof", []string{"--appendonly", "yes"}, false, false},
		{"no persistence", []string{"--appendonly", "no"}, true, false},
		{"aof, CONFIG disabled", []string{"--appendonly", "yes", "--rename-command", "CONFIG", ""}, false, true},
		{"no persistence, CONFIG disabled", []string{"--appendonly", "no", "--rename-command", "CONFIG", ""}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := freePort(t)
			args := append([]string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", t.TempDir(), "--save", ""}, tc.args...)
			cmd := exec.Command(bin, args...)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
			defer rdb.Close()
			ctx := context.Background()
			eventually(t, 10*time.Second, "redis-server answers", func() bool { return rdb.Ping(ctx).Err() == nil })
			if tc.configOff {
				if err := rdb.ConfigGet(ctx, "appendonly").Err(); err == nil {
					t.Fatal("CONFIG still works: the case does not test the fallback")
				}
			}
			err := (&redisConn{rdb: rdb}).persistence(ctx)
			if tc.wantWarn != (err != nil) {
				t.Fatalf("persistence() = %v, want a warning: %v", err, tc.wantWarn)
			}
			if err != nil && !strings.Contains(err.Error(), "appendonly yes") {
				t.Errorf("the warning does not say how to fix it: %v", err)
			}
		})
	}
}
