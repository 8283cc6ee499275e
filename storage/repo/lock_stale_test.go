package repo

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// A lock whose PID now belongs to another process (a restarted
// container's PID 1, a PID reused after a crash) or that was taken before
// the machine restarted is stale, though a process with its PID runs.
func TestLockOfAReusedPIDOrAnEarlierBootIsStale(t *testing.T) {
	ctx := t.Context()
	r := newRepo(t, "")
	host, _ := os.Hostname()
	now := time.Now().UTC()
	live := lockFile{lockHolder: lockHolder{Time: now, Host: host, PID: os.Getpid(), Op: "backup"}, Started: now, Boot: bootID(), ProcStart: procStart(os.Getpid())}
	if live.Boot == "" || live.ProcStart == "" {
		t.Fatal("this machine exposes no boot id or process start time under /proc")
	}
	reused := live
	reused.ProcStart = "1" // a process that started right after boot
	rebooted := live
	rebooted.Boot = "00000000-0000-0000-0000-000000000000"
	ids := map[string]ID{}
	for name, lf := range map[string]lockFile{"live": live, "reused": reused, "rebooted": rebooted} {
		id, err := r.saveJSON(ctx, locksPrefix, lf)
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = id
	}
	locks, err := r.Locks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[ID]LockInfo{}
	for _, l := range locks {
		got[l.ID] = l
	}
	if l := got[ids["live"]]; l.Stale {
		t.Errorf("the lock of this very process is called stale: %s", l.Reason)
	}
	if l := got[ids["reused"]]; !l.Stale || !strings.Contains(l.Reason, "another process") {
		t.Errorf("a lock whose PID was reused: stale=%v (%s), want stale", l.Stale, l.Reason)
	}
	if l := got[ids["rebooted"]]; !l.Stale || !strings.Contains(l.Reason, "restarted") {
		t.Errorf("a lock from before a restart: stale=%v (%s), want stale", l.Stale, l.Reason)
	}

	// An old lock of another host is presumed stale, not proven dead: a
	// backup leaves it to verify --fix.
	silent := live
	silent.Host, silent.Time = "elsewhere", now.Add(-2*LockStaleAfter)
	silentID, err := r.saveJSON(ctx, locksPrefix, silent)
	if err != nil {
		t.Fatal(err)
	}
	removed, err := r.RemoveDeadLocks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 2 {
		t.Errorf("removed %v; want the reused-PID and the rebooted locks", removed)
	}
	left, _ := r.Locks(ctx)
	var leftIDs []ID
	for _, l := range left {
		leftIDs = append(leftIDs, l.ID)
	}
	if len(left) != 2 || !slices.Contains(leftIDs, ids["live"]) || !slices.Contains(leftIDs, silentID) {
		t.Errorf("locks left %v; want the live one and the silent one of another host", left)
	}
}
