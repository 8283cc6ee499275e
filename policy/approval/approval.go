// Package approval is the two-person rule for destructive commands: a
// request bound to one exact preview (a plan hash), approvable once, by
// somebody other than the requester who holds an approver role, before it
// expires. Requests live in Redis so every bot process sees the same ones,
// and every state change is a single Lua script, so two simultaneous
// clicks cannot both win.
package approval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/internal/randid"
	"github.com/backupbot/backupbot/policy"
	"github.com/redis/go-redis/v9"
)

// State is where an approval request is in its life.
type State string

// States. Only a pending request can change state, and only once.
const (
	Pending   State = "pending"
	Approved  State = "approved"
	Denied    State = "denied"
	Withdrawn State = "withdrawn"
	Expired   State = "expired"
	// Stale: an approve click came with a different plan hash (the data
	// changed since the preview), so the request can no longer be approved.
	Stale State = "stale"
)

// Request asks for approval of one command, bound to its preview.
type Request struct {
	Requester policy.Identity
	Channel   string
	Thread    string
	Command   commands.Command
	// Text is the command as shown to people (commands.Render).
	Text string
	// PlanHash is policy.PlanHash(Command, plan) of the preview shown with
	// the Approve/Deny buttons.
	PlanHash string
	// Extra is kept and returned untouched (e.g. the message ref of the
	// posted preview, so the router can edit it after a decision).
	Extra map[string]string
}

// Approval is a stored request and, once decided, who decided it.
type Approval struct {
	ID        string            `json:"id"`
	State     State             `json:"state"`
	Requester policy.Identity   `json:"requester"`
	Channel   string            `json:"channel,omitempty"`
	Thread    string            `json:"thread,omitempty"`
	Command   commands.Command  `json:"-"`
	Text      string            `json:"text,omitempty"`
	PlanHash  string            `json:"plan_hash"`
	Extra     map[string]string `json:"extra,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	ExpiresAt time.Time         `json:"expires_at"`
	// DecidedBy is who approved, denied or withdrew it (nil while pending
	// and for an expiry).
	DecidedBy *policy.Identity `json:"decided_by,omitempty"`
	DecidedAt time.Time        `json:"decided_at,omitzero"`
}

// Refusals. Every error Approve, Deny and Withdraw return for a refused
// click matches exactly one of these with errors.Is; its message is a
// sentence fit for chat.
var (
	ErrNotFound       = errors.New("no such approval request")
	ErrSelfApproval   = errors.New("you cannot approve your own request")
	ErrNotApprover    = errors.New("you do not hold an approver role")
	ErrExpired        = errors.New("the approval request has expired")
	ErrAlreadyDecided = errors.New("the approval request was already decided")
	ErrPlanChanged    = errors.New("the plan changed since the preview")
	ErrNotRequester   = errors.New("only the requester can withdraw a request")
)

// refusal is a chat-ready message that unwraps to one of the Err values.
type refusal struct {
	kind error
	msg  string
}

func (r *refusal) Error() string { return r.msg }
func (r *refusal) Unwrap() error { return r.kind }

// Options tune a Store.
type Options struct {
	// Prefix starts every Redis key. Default "backupbot:".
	Prefix string
	// Now is the clock (tests pass a fake one). Default time.Now.
	Now func() time.Time
	// Keep is how long a decided or expired request stays readable (so a
	// late click gets "already approved by @bob" rather than "not found").
	// Default 24h.
	Keep time.Duration
}

// Store keeps approval requests in Redis.
type Store struct {
	rdb      redis.UniversalClient
	policies *policy.Holder
	prefix   string
	now      func() time.Time
	keep     time.Duration
}

// New returns a Store. policies supplies the approver roles and the TTL in
// force at the time of each call, so a reloaded policy applies at once.
func New(rdb redis.UniversalClient, policies *policy.Holder, o Options) *Store {
	s := &Store{rdb: rdb, policies: policies, prefix: o.Prefix, now: o.Now, keep: o.Keep}
	if s.prefix == "" {
		s.prefix = "backupbot:"
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.keep <= 0 {
		s.keep = 24 * time.Hour
	}
	return s
}

func (s *Store) key(id string) string { return s.prefix + "approval:" + id }
func (s *Store) pendingKey() string   { return s.prefix + "approvals:pending" }

// createScript stores a new request unless the id is taken.
var createScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[3])
return 1
`)

// Request stores a new pending request that expires after the policy's
// approval TTL, and returns it with its id (8 hex digits, to type as
// `approve <id>`).
func (s *Store) Request(ctx context.Context, r Request) (Approval, error) {
	if r.Command == nil {
		return Approval{}, errors.New("approval request without a command: pass the typed command to be approved")
	}
	if r.PlanHash == "" {
		return Approval{}, errors.New("approval request without a plan hash: compute policy.PlanHash(cmd, plan) from the preview")
	}
	now := s.now()
	a := Approval{
		State: Pending, Requester: r.Requester, Channel: r.Channel, Thread: r.Thread,
		Command: r.Command, Text: r.Text, PlanHash: r.PlanHash, Extra: r.Extra,
		CreatedAt: now, ExpiresAt: now.Add(s.policies.Policy().ApprovalTTL()),
	}
	fields, err := encode(a)
	if err != nil {
		return Approval{}, err
	}
	for range 5 {
		a.ID = newID()
		// The key outlives the request by Keep; the TTL is relative so
		// that Redis's clock and ours need not agree.
		keyTTL := (a.ExpiresAt.Sub(now) + s.keep).Milliseconds()
		args := []any{a.ExpiresAt.UnixMilli(), keyTTL, a.ID, "id", a.ID}
		args = append(args, fields...)
		created, err := createScript.Run(ctx, s.rdb, []string{s.key(a.ID), s.pendingKey()}, args...).Int()
		if err != nil {
			return Approval{}, fmt.Errorf("storing approval request in Redis: %w", err)
		}
		if created == 1 {
			return a, nil
		}
	}
	return Approval{}, errors.New("storing approval request: could not find a free id after 5 tries")
}

// decideScript moves a pending request to its final state, checking expiry
// and (when ARGV[4] is set) the plan hash, all in one atomic step.
var decideScript = redis.NewScript(`
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return 'notfound' end
if st ~= 'pending' then return 'decided' end
local exp = tonumber(redis.call('HGET', KEYS[1], 'expires_ms'))
if tonumber(ARGV[1]) >= exp then
  redis.call('HSET', KEYS[1], 'state', 'expired', 'decided_ms', exp)
  redis.call('ZREM', KEYS[2], ARGV[5])
  return 'expired'
end
if ARGV[4] ~= '' and redis.call('HGET', KEYS[1], 'plan_hash') ~= ARGV[4] then
  redis.call('HSET', KEYS[1], 'state', 'stale', 'decided_by', ARGV[3], 'decided_ms', ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[5])
  return 'plan'
end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'decided_by', ARGV[3], 'decided_ms', ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[5])
return 'ok'
`)

// Approve grants a pending request, once. It refuses (with an error
// matching one of the Err values): an unknown id (ErrNotFound), the
// requester (ErrSelfApproval), someone without an approver role
// (ErrNotApprover), an expired request (ErrExpired), a request already
// approved, denied, withdrawn or invalidated (ErrAlreadyDecided, which a
// replayed click gets), and a currentPlanHash that differs from the one
// requested (ErrPlanChanged; the request is then invalidated and a new one
// is needed). Of two simultaneous calls at most one succeeds.
func (s *Store) Approve(ctx context.Context, id string, approver policy.Identity, currentPlanHash string) (Approval, error) {
	a, err := s.Get(ctx, id)
	if err != nil {
		return Approval{}, err
	}
	if approver.Same(a.Requester) {
		return a, &refusal{ErrSelfApproval, fmt.Sprintf("%s cannot approve their own request %s: another person with the %s role must approve it", approver.Display(), id, roleList(s.policies.Policy()))}
	}
	if !s.policies.Policy().CanApprove(approver) {
		return a, &refusal{ErrNotApprover, fmt.Sprintf("%s cannot approve request %s: that needs the %s role", approver.Display(), id, roleList(s.policies.Policy()))}
	}
	if currentPlanHash == "" {
		return a, errors.New("approve: the current plan hash is empty: compute policy.PlanHash from a fresh preview before approving")
	}
	return s.decide(ctx, id, Approved, approver, currentPlanHash)
}

// Deny refuses a pending request. who must hold an approver role; the
// requester uses Withdraw instead.
func (s *Store) Deny(ctx context.Context, id string, who policy.Identity) (Approval, error) {
	a, err := s.Get(ctx, id)
	if err != nil {
		return Approval{}, err
	}
	if !s.policies.Policy().CanApprove(who) {
		msg := fmt.Sprintf("%s cannot deny request %s: that needs the %s role", who.Display(), id, roleList(s.policies.Policy()))
		if who.Same(a.Requester) {
			msg += fmt.Sprintf("; to take back your own request use `/backup approvals --withdraw %s`", id)
		}
		return a, &refusal{ErrNotApprover, msg}
	}
	return s.decide(ctx, id, Denied, who, "")
}

// Withdraw takes back a pending request; only its requester may.
func (s *Store) Withdraw(ctx context.Context, id string, requester policy.Identity) (Approval, error) {
	a, err := s.Get(ctx, id)
	if err != nil {
		return Approval{}, err
	}
	if !requester.Same(a.Requester) {
		return a, &refusal{ErrNotRequester, fmt.Sprintf("%s cannot withdraw request %s: only %s, who made it, can", requester.Display(), id, a.Requester.Display())}
	}
	return s.decide(ctx, id, Withdrawn, requester, "")
}

func (s *Store) decide(ctx context.Context, id string, to State, who policy.Identity, planHash string) (Approval, error) {
	whoJSON, err := json.Marshal(who)
	if err != nil {
		return Approval{}, fmt.Errorf("encoding identity: %w", err)
	}
	now := s.now()
	res, err := decideScript.Run(ctx, s.rdb, []string{s.key(id), s.pendingKey()},
		now.UnixMilli(), string(to), string(whoJSON), planHash, id).Text()
	if err != nil {
		return Approval{}, fmt.Errorf("recording the decision on approval %s in Redis: %w", id, err)
	}
	a, err := s.Get(ctx, id)
	if err != nil {
		return Approval{}, err
	}
	switch res {
	case "ok":
		return a, nil
	case "notfound":
		return Approval{}, notFound(id)
	case "expired":
		return a, &refusal{ErrExpired, fmt.Sprintf("approval request %s expired at %s; ask again with a fresh preview", id, a.ExpiresAt.UTC().Format("15:04 MST"))}
	case "plan":
		return a, &refusal{ErrPlanChanged, fmt.Sprintf("approval request %s no longer matches the data: the plan changed since the preview, so a new request (with a new preview) is needed", id)}
	case "decided":
		by := ""
		if a.DecidedBy != nil {
			by = " by " + a.DecidedBy.Display()
		}
		at := ""
		if !a.DecidedAt.IsZero() {
			at = " at " + a.DecidedAt.UTC().Format("15:04:05 MST")
		}
		return a, &refusal{ErrAlreadyDecided, fmt.Sprintf("approval request %s was already %s%s%s; a request is used only once", id, a.State, by, at)}
	}
	return a, fmt.Errorf("approval %s: unexpected answer %q from Redis", id, res)
}

// Get reads one request. A pending request past its expiry reads as Expired.
func (s *Store) Get(ctx context.Context, id string) (Approval, error) {
	m, err := s.rdb.HGetAll(ctx, s.key(id)).Result()
	if err != nil {
		return Approval{}, fmt.Errorf("reading approval %s from Redis: %w", id, err)
	}
	if len(m) == 0 {
		return Approval{}, notFound(id)
	}
	a, err := decode(m)
	if err != nil {
		return Approval{}, fmt.Errorf("approval %s: %w", id, err)
	}
	if a.State == Pending && !s.now().Before(a.ExpiresAt) {
		a.State = Expired
	}
	return a, nil
}

// Pending lists the requests still awaiting a decision, oldest first.
func (s *Store) Pending(ctx context.Context) ([]Approval, error) {
	now := s.now()
	ids, err := s.rdb.ZRangeByScore(ctx, s.pendingKey(), &redis.ZRangeBy{
		Min: strconv.FormatInt(now.UnixMilli()+1, 10), Max: "+inf",
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("listing pending approvals in Redis: %w", err)
	}
	// Forget index entries that expired without a click.
	s.rdb.ZRemRangeByScore(ctx, s.pendingKey(), "-inf", strconv.FormatInt(now.UnixMilli(), 10))
	var out []Approval
	for _, id := range ids {
		a, err := s.Get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if a.State == Pending {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

func notFound(id string) error {
	return &refusal{ErrNotFound, fmt.Sprintf("there is no approval request %q (it may have been cleaned up long after it was decided); check `/backup approvals`", id)}
}

func roleList(p *policy.Policy) string {
	roles := p.ApproverRoles()
	switch len(roles) {
	case 0:
		return "approver (none is configured)"
	case 1:
		return roles[0]
	}
	out := roles[0]
	for i, r := range roles[1:] {
		if i == len(roles)-2 {
			out += " or " + r
		} else {
			out += ", " + r
		}
	}
	return out
}

func newID() string { return randid.Hex(4) }
