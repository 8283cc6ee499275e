package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/policy/audit"
)

// One reload for all processes: SIGHUP on any one process re-reads its own
// file and, when that worked, announces a reload on Redis; every other
// process (bot or worker, on any host) re-reads and validates its own file
// too. Each process registers the version (a hash) of the configuration it
// runs, which /readyz shows, so a process that refused the new file (or
// missed the announcement) stands out.
const (
	reloadChannel = "backupbot:reload"
	reloadGenKey  = "backupbot:reload-gen" // counts reloads, for processes that missed the announcement
	procKeyPrefix = "backupbot:proc:"      // one key per running process: role and config version
	procTTL       = 30 * time.Second
	procEvery     = 10 * time.Second
)

// reloader keeps a process's configuration current: it swaps one
// immutable *config.Snapshot (file, policy, parser) in one atomic pointer,
// all of it or, when any part of the new file is invalid, nothing.
type reloader struct {
	logger  *slog.Logger
	current *atomic.Pointer[config.Snapshot]
	audit   *audit.Log
	rdb     redis.UniversalClient
	self    string // this process, as registered
	role    string
	// prepare, when set, checks what else the new snapshot needs (the
	// HTTP token file) before it is swapped in; an error refuses the
	// reload, and the returned func applies it after the swap.
	prepare func(*config.Snapshot) (func(), error)

	mu  sync.Mutex   // serializes reloads
	gen atomic.Int64 // the last reload generation seen
}

// procInfo is what a process registers about itself.
type procInfo struct {
	Role    string    `json:"role"`
	Version string    `json:"version"`
	At      time.Time `json:"at"`
}

// configVersion is the first 12 hex digits of the file's SHA-256 (the
// tests compare it with what processes register).
func configVersion(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unreadable"
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:12]
}

func newReloader(logger *slog.Logger, current *atomic.Pointer[config.Snapshot], auditLog *audit.Log, rdb redis.UniversalClient, o options) *reloader {
	return &reloader{logger: logger, current: current, audit: auditLog, rdb: rdb,
		self: fmt.Sprintf("%s:%d", instanceName(o), os.Getpid()), role: o.role}
}

// Version is the version of the configuration in force.
func (r *reloader) Version() string { return r.current.Load().Version }

// run handles SIGHUP, reload announcements and the registration until ctx
// is done.
func (r *reloader) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { r.register(ctx) })
	wg.Go(func() { r.listen(ctx) })
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		if r.reload(ctx, "sighup") {
			r.announce(ctx)
		}
	}
}

// reload re-reads this process's own file, once, into a new snapshot and
// swaps it in; a file with any error (YAML, a key, a storage, a policy
// rule, an unreadable token file) is refused and everything in force
// stays, version included. It reports whether it reloaded.
func (r *reloader) reload(ctx context.Context, why string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	path := r.current.Load().Path
	if path == "" {
		r.logger.Warn("reload (" + why + "): nothing to reload, the service runs on the embedded defaults (start it with --config FILE)")
		return false
	}
	entry := audit.Entry{Kind: audit.PolicyReloaded, User: policy.Identity{Platform: "system", UserID: why}, Detail: path}
	refuse := func(err error) bool {
		r.logger.Error("reload: the new configuration was refused (policy included); the old one stays in force", "err", err, "trigger", why, "version", r.Version())
		entry.Error = err.Error()
		_ = r.audit.Record(ctx, entry)
		return false
	}
	next, err := config.LoadSnapshot(path)
	if err != nil {
		return refuse(err)
	}
	apply := func() {}
	if r.prepare != nil {
		if apply, err = r.prepare(next); err != nil {
			return refuse(err)
		}
	}
	r.current.Store(next)
	apply()
	_ = r.audit.Record(ctx, entry)
	r.logger.Info("reload: policy and configuration reloaded", "file", path, "version", next.Version, "trigger", why)
	r.registerOnce(ctx)
	return true
}

// announce tells every other process to reload.
func (r *reloader) announce(ctx context.Context) {
	gen, err := r.rdb.Incr(ctx, reloadGenKey).Result()
	if err == nil {
		r.gen.Store(gen)
		err = r.rdb.Publish(ctx, reloadChannel, fmt.Sprintf("%d %s", gen, r.self)).Err()
	}
	if err != nil {
		r.logger.Warn("reload: could not tell the other processes over Redis; send them SIGHUP too", "err", err)
		return
	}
	r.logger.Info("reload: told the other processes to reload their configuration", "generation", gen)
}

// listen reloads on every announcement by another process, and on a
// reload generation it missed (checked with the registration).
func (r *reloader) listen(ctx context.Context) {
	if g, err := r.rdb.Get(ctx, reloadGenKey).Int64(); err == nil {
		r.gen.Store(g)
	}
	for ctx.Err() == nil {
		sub := r.rdb.Subscribe(ctx, reloadChannel)
		ch := sub.Channel()
	loop:
		for {
			select {
			case <-ctx.Done():
				break loop
			case m, ok := <-ch:
				if !ok {
					break loop
				}
				genText, from, _ := strings.Cut(m.Payload, " ")
				var gen int64
				_, _ = fmt.Sscan(genText, &gen)
				if from == r.self || gen <= r.gen.Load() {
					continue
				}
				r.gen.Store(gen)
				r.reload(ctx, "announced by "+from)
			}
		}
		_ = sub.Close()
		select { // the subscription ended: try again shortly
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// register keeps this process's key current and catches up on a reload
// announced while it was cut off from Redis.
func (r *reloader) register(ctx context.Context) {
	t := time.NewTicker(procEvery)
	defer t.Stop()
	for {
		r.registerOnce(ctx)
		if g, err := r.rdb.Get(ctx, reloadGenKey).Int64(); err == nil && g > r.gen.Load() {
			r.gen.Store(g)
			r.reload(ctx, "missed announcement")
		}
		select {
		case <-ctx.Done():
			r.rdb.Del(context.WithoutCancel(ctx), procKeyPrefix+r.self)
			return
		case <-t.C:
		}
	}
}

func (r *reloader) registerOnce(ctx context.Context) {
	b, _ := json.Marshal(procInfo{Role: r.role, Version: r.Version(), At: time.Now().UTC()})
	if err := r.rdb.Set(ctx, procKeyPrefix+r.self, b, procTTL).Err(); err != nil && ctx.Err() == nil {
		r.logger.Debug("reload: registering the config version", "err", err)
	}
}

// versions lists every running process with its role and config version,
// for /readyz: "host-worker-...:1234" -> "3f2a9c01b7de (worker)".
func versions(rdb redis.UniversalClient) func(ctx context.Context) (map[string]string, error) {
	return func(ctx context.Context) (map[string]string, error) {
		out := map[string]string{}
		iter := rdb.Scan(ctx, 0, procKeyPrefix+"*", 200).Iterator()
		for iter.Next(ctx) {
			raw, err := rdb.Get(ctx, iter.Val()).Result()
			if err != nil {
				continue
			}
			var p procInfo
			if json.Unmarshal([]byte(raw), &p) == nil {
				out[strings.TrimPrefix(iter.Val(), procKeyPrefix)] = p.Version + " (" + p.Role + ")"
			}
		}
		return out, iter.Err()
	}
}
