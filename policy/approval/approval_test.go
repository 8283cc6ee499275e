package approval_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/policy/approval"
	"github.com/backupbot/backupbot/policy/internal/redistest"
)

var (
	requester = policy.Identity{Platform: "slack", UserID: "URESTORE", UserName: "rita"}
	approverA = policy.Identity{Platform: "slack", UserID: "UAPPROVE", UserName: "alex"}
	approverB = policy.Identity{Platform: "slack", UserID: "U9", UserName: "olga", Groups: []string{"oncall"}}
	admin     = policy.Identity{Platform: "slack", UserID: "UADMIN", UserName: "ada"}
	operator  = policy.Identity{Platform: "slack", UserID: "U1", UserName: "otto", Groups: []string{"S0OPS"}}
)

type fixture struct {
	store *approval.Store
	clock *redistest.Clock
	ctx   context.Context
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	p, err := policy.LoadFile("../testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	clock := redistest.NewClock()
	s := approval.New(rdb, policy.NewHolder(p), approval.Options{Prefix: prefix, Now: clock.Now})
	return fixture{store: s, clock: clock, ctx: context.Background()}
}

var forced = &commands.Restore{Name: "nightly", Target: "data", Force: true, Storage: commands.StorageRef{Name: "local"}}

var plan = []byte(`{"files":120,"bytes":4096000}`)

func (f fixture) request(t *testing.T, who policy.Identity) approval.Approval {
	t.Helper()
	a, err := f.store.Request(f.ctx, approval.Request{
		Requester: who, Channel: "#ops", Thread: "1700000000.000100", Command: forced,
		Text: "restore --name nightly --target data --force --storage local", PlanHash: policy.PlanHash(forced, plan),
		Extra: map[string]string{"message": "C1/1700000000.000200"},
	})
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	return a
}

// refused checks that err is want and that its message says says.
func refused(t *testing.T, err, want error, says string) {
	t.Helper()
	if !errors.Is(err, want) || !strings.Contains(err.Error(), says) {
		t.Fatalf("got %v; want %v saying %q", err, want, says)
	}
}

// wantState checks the state the store keeps for request id.
func (f fixture) wantState(t *testing.T, id string, want approval.State) {
	t.Helper()
	if got, _ := f.store.Get(f.ctx, id); got.State != want {
		t.Errorf("request %s is %s; want %s", id, got.State, want)
	}
}

func TestRequestIsStoredAndListed(t *testing.T) {
	f := newFixture(t)
	a := f.request(t, requester)
	if len(a.ID) != 8 || a.State != approval.Pending || !a.ExpiresAt.Equal(f.clock.Now().Add(10*time.Minute)) {
		t.Fatalf("new request = %+v; want an 8-char id, pending, expiring in the policy's 10m", a)
	}
	pending, err := f.store.Pending(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || pending[0].ID != a.ID {
		t.Fatalf("Pending = %+v; want just %s", pending, a.ID)
	}
	got := pending[0]
	if !reflect.DeepEqual(got.Command, forced) || got.Requester.UserID != requester.UserID ||
		got.Extra["message"] != "C1/1700000000.000200" || got.Thread != "1700000000.000100" {
		t.Errorf("stored request came back as %+v (command %+v)", got, got.Command)
	}
}

func TestApproveRefusals(t *testing.T) {
	f := newFixture(t)
	hash := policy.PlanHash(forced, plan)

	t.Run("self-approval", func(t *testing.T) {
		a := f.request(t, admin) // admin is an approver, but not of their own request
		_, err := f.store.Approve(f.ctx, a.ID, admin, hash)
		refused(t, err, approval.ErrSelfApproval, "@ada cannot approve their own request")
		f.wantState(t, a.ID, approval.Pending) // a refused self-approval changes nothing
	})
	t.Run("non-approver", func(t *testing.T) {
		a := f.request(t, requester)
		_, err := f.store.Approve(f.ctx, a.ID, operator, hash)
		refused(t, err, approval.ErrNotApprover, "needs the approver or admin role")
	})
	t.Run("expired", func(t *testing.T) {
		a := f.request(t, requester)
		f.clock.Advance(10*time.Minute + time.Second)
		_, err := f.store.Approve(f.ctx, a.ID, approverA, hash)
		refused(t, err, approval.ErrExpired, "expired")
		f.wantState(t, a.ID, approval.Expired)
	})
	t.Run("replayed click", func(t *testing.T) {
		a := f.request(t, requester)
		got, err := f.store.Approve(f.ctx, a.ID, approverA, hash)
		if err != nil || got.State != approval.Approved || got.DecidedBy == nil || got.DecidedBy.UserID != approverA.UserID {
			t.Fatalf("first approval: %+v, %v", got, err)
		}
		_, err = f.store.Approve(f.ctx, a.ID, approverA, hash)
		refused(t, err, approval.ErrAlreadyDecided, "already approved by @alex") // a second click
		_, err = f.store.Approve(f.ctx, a.ID, approverB, hash)
		refused(t, err, approval.ErrAlreadyDecided, "") // another approver's later click
	})
	t.Run("plan changed", func(t *testing.T) {
		a := f.request(t, requester)
		newHash := policy.PlanHash(forced, []byte(`{"files":121,"bytes":4096100}`))
		_, err := f.store.Approve(f.ctx, a.ID, approverA, newHash)
		refused(t, err, approval.ErrPlanChanged, "new request")
		// The request is spent: even the old hash cannot approve it now.
		_, err = f.store.Approve(f.ctx, a.ID, approverB, hash)
		refused(t, err, approval.ErrAlreadyDecided, "")
	})
	t.Run("unknown id", func(t *testing.T) {
		_, err := f.store.Approve(f.ctx, "deadbeef", approverA, hash)
		refused(t, err, approval.ErrNotFound, "")
	})
	t.Run("approver via group handle", func(t *testing.T) {
		a := f.request(t, requester)
		if _, err := f.store.Approve(f.ctx, a.ID, approverB, hash); err != nil {
			t.Fatalf("approver by Slack group: %v", err)
		}
	})
}

func TestDenyAndWithdraw(t *testing.T) {
	f := newFixture(t)
	hash := policy.PlanHash(forced, plan)

	a := f.request(t, requester)
	_, err := f.store.Deny(f.ctx, a.ID, operator) // by a non-approver
	refused(t, err, approval.ErrNotApprover, "")
	denied, err := f.store.Deny(f.ctx, a.ID, approverA)
	if err != nil || denied.State != approval.Denied || denied.DecidedBy.UserID != approverA.UserID {
		t.Fatalf("deny: %+v, %v", denied, err)
	}
	_, err = f.store.Approve(f.ctx, a.ID, approverB, hash)
	refused(t, err, approval.ErrAlreadyDecided, "already denied by @alex")

	b := f.request(t, requester)
	_, err = f.store.Withdraw(f.ctx, b.ID, approverA) // by someone else
	refused(t, err, approval.ErrNotRequester, "only @rita")
	w, err := f.store.Withdraw(f.ctx, b.ID, requester)
	if err != nil || w.State != approval.Withdrawn {
		t.Fatalf("withdraw: %+v, %v", w, err)
	}
	pending, err := f.store.Pending(f.ctx)
	if err != nil || len(pending) != 0 {
		t.Fatalf("Pending after deny and withdraw = %+v, %v; want none", pending, err)
	}
}

// Two (or twenty) simultaneous clicks: exactly one wins, every time.
func TestConcurrentApproveGrantsExactlyOnce(t *testing.T) {
	f := newFixture(t)
	hash := policy.PlanHash(forced, plan)
	approvers := []policy.Identity{approverA, approverB, admin}
	for round := range 20 {
		a := f.request(t, requester)
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, replays := 0, 0
		for i := range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := f.store.Approve(f.ctx, a.ID, approvers[i%len(approvers)], hash)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, approval.ErrAlreadyDecided):
					replays++
				default:
					t.Errorf("round %d: unexpected error %v", round, err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 || replays != 11 {
			t.Fatalf("round %d: %d approvals succeeded and %d were refused as already decided; want 1 and 11", round, wins, replays)
		}
	}
}
