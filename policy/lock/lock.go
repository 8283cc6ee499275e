// Package lock keeps the visible per-target locks that restores and
// cleanups take, in Redis so that every worker and bot process sees them.
// A lock names who holds it (person and job) and since when; a conflicting
// attempt is refused with exactly that. Locks expire after a TTL so a
// crashed holder cannot block a target for ever; a long job extends its
// lease. A lock on target "all" conflicts with every target of the same
// storage, and the other way round.
package lock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/backupbot/backupbot/internal/randid"
	"github.com/backupbot/backupbot/policy"
	"github.com/redis/go-redis/v9"
)

// Key is what a lock covers: one target of one storage. Empty Storage
// means the default storage and empty Target means all targets.
type Key struct {
	Storage string `json:"storage"`
	Target  string `json:"target"`
}

func (k Key) normalized() Key {
	if k.Storage == "" {
		k.Storage = "default"
	}
	if k.Target == "" {
		k.Target = "all"
	}
	return k
}

func (k Key) String() string {
	k = k.normalized()
	if k.Target == "all" {
		return "every target on storage " + k.Storage
	}
	return "target " + k.Target + " on storage " + k.Storage
}

// Owner is who takes a lock: the person and the job doing the work.
type Owner struct {
	Identity policy.Identity `json:"identity"`
	JobID    string          `json:"job_id,omitempty"`
	// Action is what the holder is doing (restore, cleanup), for messages.
	Action string `json:"action,omitempty"`
}

// Info describes a held lock.
type Info struct {
	Key       Key       `json:"key"`
	Owner     Owner     `json:"owner"`
	Since     time.Time `json:"since"`
	ExpiresAt time.Time `json:"expires_at"`
}

// ErrLocked is matched (errors.Is) by the *LockedError of a conflicting attempt.
var ErrLocked = errors.New("locked")

// LockedError says who holds the lock that blocked an attempt, and since when.
type LockedError struct {
	Wanted Key
	Held   Info
	now    time.Time
}

func (e *LockedError) Error() string {
	h := e.Held
	what := h.Key.String()
	by := h.Owner.Identity.Display()
	if h.Owner.Action != "" {
		by += "'s " + h.Owner.Action
	}
	if h.Owner.JobID != "" {
		by += " (job " + h.Owner.JobID + ")"
	}
	age := e.now.Sub(h.Since).Truncate(time.Second)
	return fmt.Sprintf("%s is locked by %s since %s (%s ago); try again when it is done",
		what, by, h.Since.UTC().Format("2006-01-02 15:04:05 MST"), age)
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Options tune a Manager.
type Options struct {
	// Prefix starts every Redis key. Default "backupbot:".
	Prefix string
	// Now is the clock (tests pass a fake one). Default time.Now.
	Now func() time.Time
}

// Manager takes and releases locks.
type Manager struct {
	rdb    redis.UniversalClient
	prefix string
	now    func() time.Time
}

// New returns a Manager.
func New(rdb redis.UniversalClient, o Options) *Manager {
	m := &Manager{rdb: rdb, prefix: o.Prefix, now: o.Now}
	if m.prefix == "" {
		m.prefix = "backupbot:"
	}
	if m.now == nil {
		m.now = time.Now
	}
	return m
}

func (m *Manager) key(storage string) string { return m.prefix + "lock:" + storage }

type record struct {
	Token     string `json:"token"`
	Owner     Owner  `json:"owner"`
	SinceMS   int64  `json:"since_ms"`
	ExpiresMS int64  `json:"expires_ms"`
}

// acquireScript: drop expired entries, refuse on a conflicting live one
// (same target, or "all" on either side) unless it belongs to the same
// job, else store ours. Returns the conflicting entry, or nil.
var acquireScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local target = ARGV[2]
local job = ARGV[5]
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local f, v = all[i], all[i+1]
  local d = cjson.decode(v)
  if tonumber(d.expires_ms) <= now then
    redis.call('HDEL', KEYS[1], f)
  elseif f == target or f == 'all' or target == 'all' then
    local same = job ~= '' and type(d.owner) == 'table' and d.owner.job_id == job
    if not same or f ~= target then return {f, v} end
  end
end
redis.call('HSET', KEYS[1], target, ARGV[3])
local want = tonumber(ARGV[4])
if redis.call('PTTL', KEYS[1]) < want then redis.call('PEXPIRE', KEYS[1], want) end
return false
`)

// Lock takes the lock on key for owner for ttl. If someone else holds a
// conflicting lock it returns a *LockedError (errors.Is ErrLocked) naming
// them and since when. The same job taking its lock again (a retried job)
// takes it over. Release the lease when the work is done; Extend it when
// the work may outlast ttl.
func (m *Manager) Lock(ctx context.Context, key Key, owner Owner, ttl time.Duration) (*Lease, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("lock %s: ttl must be positive, got %s", key, ttl)
	}
	key = key.normalized()
	now := m.now()
	rec := record{Token: newToken(), Owner: owner, SinceMS: now.UnixMilli(), ExpiresMS: now.Add(ttl).UnixMilli()}
	val, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("lock %s: encoding owner: %w", key, err)
	}
	// Keep the Redis key a while past the lease so a slow clock cannot
	// drop a live lock; expiry is decided by expires_ms.
	keyTTL := (ttl + time.Minute).Milliseconds()
	res, err := acquireScript.Run(ctx, m.rdb, []string{m.key(key.Storage)},
		now.UnixMilli(), key.Target, string(val), keyTTL, owner.JobID).Result()
	if errors.Is(err, redis.Nil) {
		return &Lease{m: m, key: key, token: rec.Token, Since: now}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("taking the lock on %s in Redis: %w", key, err)
	}
	pair, _ := res.([]any)
	if len(pair) != 2 {
		return nil, fmt.Errorf("taking the lock on %s: unexpected answer %v from Redis", key, res)
	}
	target, _ := pair[0].(string)
	held, _ := pair[1].(string)
	var other record
	if err := json.Unmarshal([]byte(held), &other); err != nil {
		return nil, fmt.Errorf("%s is locked, but the lock record is unreadable: %w", key, err)
	}
	return nil, &LockedError{Wanted: key, Held: other.info(key.Storage, target), now: now}
}

func (r record) info(storage, target string) Info {
	return Info{
		Key:       Key{Storage: storage, Target: target},
		Owner:     r.Owner,
		Since:     time.UnixMilli(r.SinceMS),
		ExpiresAt: time.UnixMilli(r.ExpiresMS),
	}
}

// Held lists the live locks of one storage ("" for the default storage),
// sorted by target.
func (m *Manager) Held(ctx context.Context, storage string) ([]Info, error) {
	storage = Key{Storage: storage}.normalized().Storage
	all, err := m.rdb.HGetAll(ctx, m.key(storage)).Result()
	if err != nil {
		return nil, fmt.Errorf("reading the locks of storage %s from Redis: %w", storage, err)
	}
	now := m.now().UnixMilli()
	var out []Info
	for target, v := range all {
		var r record
		if err := json.Unmarshal([]byte(v), &r); err != nil || r.ExpiresMS <= now {
			continue
		}
		out = append(out, r.info(storage, target))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key.Target < out[j].Key.Target })
	return out, nil
}

// Lease is a held lock.
type Lease struct {
	m     *Manager
	key   Key
	token string
	// Since is when the lock was taken.
	Since time.Time
}

// Key is what the lease covers.
func (l *Lease) Key() Key { return l.key }

var releaseScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local d = cjson.decode(v)
if d.token ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
`)

// Release frees the lock. Releasing a lock that already expired (and may
// now be someone else's) does nothing and is not an error.
func (l *Lease) Release(ctx context.Context) error {
	if err := releaseScript.Run(ctx, l.m.rdb, []string{l.m.key(l.key.Storage)}, l.key.Target, l.token).Err(); err != nil {
		return fmt.Errorf("releasing the lock on %s in Redis: %w", l.key, err)
	}
	return nil
}

var extendScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local d = cjson.decode(v)
if d.token ~= ARGV[2] or tonumber(d.expires_ms) <= tonumber(ARGV[3]) then return 0 end
d.expires_ms = tonumber(ARGV[4])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(d))
local want = tonumber(ARGV[5])
if redis.call('PTTL', KEYS[1]) < want then redis.call('PEXPIRE', KEYS[1], want) end
return 1
`)

// ErrLost is returned by Extend when the lease expired (or was taken over)
// before it was extended: the holder must stop, since someone else may now
// hold the lock.
var ErrLost = errors.New("lock lost")

// Extend pushes the lease's expiry to now+ttl.
func (l *Lease) Extend(ctx context.Context, ttl time.Duration) error {
	now := l.m.now()
	ok, err := extendScript.Run(ctx, l.m.rdb, []string{l.m.key(l.key.Storage)}, l.key.Target, l.token,
		now.UnixMilli(), now.Add(ttl).UnixMilli(), (ttl + time.Minute).Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("extending the lock on %s in Redis: %w", l.key, err)
	}
	if ok == 0 {
		return fmt.Errorf("the lock on %s expired before it was extended; stop and retry the job: %w", l.key, ErrLost)
	}
	return nil
}

func newToken() string { return randid.Hex(12) }
