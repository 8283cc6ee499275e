package main

import (
	"context"
	"strings"
	"testing"
)

// /readyz's persistence warning reads CONFIG GET appendonly, and INFO
// persistence where CONFIG is disabled (renamed away, as managed Redis
// services do).
func TestPersistenceCheckWithAndWithoutConfig(t *testing.T) {
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
			rdb := startRedisServer(t, tc.args...).rdb
			ctx := context.Background()
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
