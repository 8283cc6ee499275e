package lock_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/policy/internal/redistest"
	"github.com/backupbot/backupbot/policy/lock"
)

var (
	alice = lock.Owner{Identity: policy.Identity{Platform: "slack", UserID: "U1", UserName: "alice"}, JobID: "8f3a01bc", Action: "restore"}
	bob   = lock.Owner{Identity: policy.Identity{Platform: "discord", UserID: "42", UserName: "bob"}, JobID: "77aa0011", Action: "cleanup"}
)

func newManager(t *testing.T) (*lock.Manager, *redistest.Clock) {
	rdb, prefix := redistest.Client(t)
	clock := redistest.NewClock()
	return lock.New(rdb, lock.Options{Prefix: prefix, Now: clock.Now}), clock
}

func TestConflictNamesHolderAndSince(t *testing.T) {
	m, clock := newManager(t)
	ctx := context.Background()
	data := lock.Key{Storage: "local", Target: "data"}
	if _, err := m.Lock(ctx, data, alice, time.Hour); err != nil {
		t.Fatalf("first lock: %v", err)
	}
	clock.Advance(3*time.Minute + 7*time.Second)
	_, err := m.Lock(ctx, data, bob, time.Hour)
	var le *lock.LockedError
	if !errors.Is(err, lock.ErrLocked) || !errors.As(err, &le) {
		t.Fatalf("second lock: got %v; want a *LockedError", err)
	}
	want := "target data on storage local is locked by @alice's restore (job 8f3a01bc) since 2025-01-15 14:00:00 UTC (3m7s ago)"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("conflict message\n %q\ndoes not contain\n %q", err, want)
	}
	if le.Held.Owner.Identity.UserName != "alice" || !le.Held.Since.Equal(redistest.NewClock().Now()) {
		t.Errorf("LockedError.Held = %+v", le.Held)
	}
}

func TestTargetsAndAll(t *testing.T) {
	m, _ := newManager(t)
	ctx := context.Background()
	if _, err := m.Lock(ctx, lock.Key{Storage: "local", Target: "data"}, alice, time.Hour); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		key      lock.Key
		conflict bool
	}{
		{lock.Key{Storage: "local", Target: "config"}, false}, // another target
		{lock.Key{Storage: "offsite", Target: "data"}, false}, // another storage
		{lock.Key{Storage: "local", Target: "all"}, true},     // all covers data
		{lock.Key{Storage: "local"}, true},                    // empty target means all
		{lock.Key{Storage: "offsite", Target: "all"}, true},   // all of offsite, after "offsite data" above
		{lock.Key{Storage: "", Target: "logs"}, false},        // default storage
	}
	for _, tc := range cases {
		_, err := m.Lock(ctx, tc.key, bob, time.Hour)
		if got := errors.Is(err, lock.ErrLocked); got != tc.conflict {
			t.Errorf("Lock(%+v): conflict %v (%v); want %v", tc.key, got, err, tc.conflict)
		}
	}
	held, err := m.Held(ctx, "local")
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 2 || held[0].Key.Target != "config" || held[1].Key.Target != "data" || held[1].Owner.JobID != alice.JobID {
		t.Errorf("Held(local) = %+v; want config (bob) and data (alice)", held)
	}
	// An "all" lock blocks every target.
	if _, err := m.Lock(ctx, lock.Key{Storage: "s3", Target: "all"}, alice, time.Hour); err != nil {
		t.Fatal(err)
	}
	_, err = m.Lock(ctx, lock.Key{Storage: "s3", Target: "config"}, bob, time.Hour)
	if !errors.Is(err, lock.ErrLocked) || !strings.Contains(err.Error(), "every target on storage s3 is locked by @alice") {
		t.Errorf("config under an all lock: got %v", err)
	}
}

func TestReleaseFrees(t *testing.T) {
	m, _ := newManager(t)
	ctx := context.Background()
	key := lock.Key{Storage: "local", Target: "data"}
	lease, err := m.Lock(ctx, key, alice, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := lease.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	again, err := m.Lock(ctx, key, bob, time.Hour)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	// A stale lease releasing again must not free bob's lock.
	if err := lease.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Lock(ctx, key, alice, time.Hour); !errors.Is(err, lock.ErrLocked) {
		t.Fatalf("alice's second release freed bob's lock: %v", err)
	}
	if err := again.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestTTLFreesCrashedHolderAndExtendKeeps(t *testing.T) {
	m, clock := newManager(t)
	ctx := context.Background()
	key := lock.Key{Storage: "local", Target: "data"}
	crashed, err := m.Lock(ctx, key, alice, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(5*time.Minute + time.Millisecond) // alice's worker died; nobody released
	lease, err := m.Lock(ctx, key, bob, 5*time.Minute)
	if err != nil {
		t.Fatalf("lock after the crashed holder's TTL: %v", err)
	}
	if err := crashed.Extend(ctx, time.Hour); !errors.Is(err, lock.ErrLost) {
		t.Errorf("the crashed holder extended a lock it lost: %v", err)
	}
	clock.Advance(4 * time.Minute)
	if err := lease.Extend(ctx, 10*time.Minute); err != nil {
		t.Fatalf("Extend: %v", err)
	}
	clock.Advance(9 * time.Minute) // 13 minutes after taking a 5-minute lock, extended
	if _, err := m.Lock(ctx, key, alice, time.Minute); !errors.Is(err, lock.ErrLocked) {
		t.Fatalf("an extended lock expired early: %v", err)
	}
}

func TestRetriedJobTakesOverItsLock(t *testing.T) {
	m, _ := newManager(t)
	ctx := context.Background()
	key := lock.Key{Storage: "local", Target: "data"}
	if _, err := m.Lock(ctx, key, alice, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Lock(ctx, key, alice, time.Hour); err != nil {
		t.Fatalf("the same job locking again (a retry after a crash): %v", err)
	}
}
