package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/alerts/rule321"
	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/storage"
	"github.com/backupbot/backupbot/storage/engine"
)

// identity is what a backup and its copies share: the source snapshot's
// ID for a copy, the snapshot's own ID otherwise.
func identity(s engine.SnapshotInfo) string {
	if s.Origin != nil {
		return s.Origin.Snapshot
	}
	return s.ID
}

// snapshotsIn lists a storage's snapshots matching f (none when it holds
// no repository yet).
func (w *Worker) snapshotsIn(ctx context.Context, j *Job, ns config.NamedStorage, f engine.SnapshotFilter) ([]engine.SnapshotInfo, error) {
	r, err := w.openRepo(ctx, ns, j, openOptions{})
	if errors.Is(err, engine.ErrNoRepository) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.Snapshots(ctx, f)
}

// copiesMatter reports whether a listing should say where each backup's
// copies are: some target has copy storages, or a listed backup is a copy.
func (w *Worker) copiesMatter(rows []listedSnapshot) bool {
	for _, t := range w.config().Targets {
		if len(t.Copies) > 0 {
			return true
		}
	}
	return slices.ContainsFunc(rows, func(r listedSnapshot) bool { return r.Origin != nil })
}

// annotateCopies fills each row's Copies: the storages that hold the
// backup (itself or a copy of it), among the storages listed and the copy
// storages of the targets listed. Storages that cannot be read are left
// out (the listing's notes say so for the listed ones).
func (w *Worker) annotateCopies(ctx context.Context, j *Job, rows []listedSnapshot, listed []config.NamedStorage, f engine.SnapshotFilter) {
	got := map[string][]engine.SnapshotInfo{}
	for _, ns := range listed {
		got[ns.Name] = []engine.SnapshotInfo{}
	}
	for _, r := range rows {
		got[r.Storage] = append(got[r.Storage], r.SnapshotInfo)
	}
	holders := w.holders(ctx, j, got, f)
	for i := range rows {
		rows[i].Copies = holders(rows[i].SnapshotInfo)
	}
}

// holders returns, for a backup, the storages that hold it: among those
// in got (storage name: its snapshots matching f) and the copy storages
// of the targets in got, which it reads. The original's storage comes
// first, then the copies by name.
func (w *Worker) holders(ctx context.Context, j *Job, got map[string][]engine.SnapshotInfo, f engine.SnapshotFilter) func(engine.SnapshotInfo) []string {
	cfg := w.config()
	held := map[string][]string{}
	add := func(storage string, s engine.SnapshotInfo) {
		id := identity(s)
		if !slices.Contains(held[id], storage) {
			held[id] = append(held[id], storage)
		}
	}
	targets := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(got)) {
		for _, s := range got[name] {
			add(name, s)
			targets[s.Target] = true
		}
	}
	for _, t := range slices.Sorted(maps.Keys(targets)) {
		for _, c := range cfg.CopiesOf(t, "") {
			if _, ok := got[c]; ok {
				continue
			}
			got[c] = nil
			ns, err := cfg.ResolveStorage(commands.StorageRef{Name: c})
			if err != nil {
				continue
			}
			snaps, err := w.snapshotsIn(ctx, j, ns, f)
			if err != nil {
				j.Logger.Warn("list: a copy storage could not be read", "storage", c, "err", err)
				continue
			}
			for _, s := range snaps {
				add(c, s)
			}
		}
	}
	return func(s engine.SnapshotInfo) []string {
		h := slices.Clone(held[identity(s)])
		slices.SortFunc(h, func(a, b string) int { return compareHolders(a, b, s) })
		return h
	}
}

func compareHolders(a, b string, s engine.SnapshotInfo) int {
	origin := ""
	if s.Origin != nil {
		origin = s.Origin.Storage
	}
	switch {
	case a == b:
		return 0
	case a == origin:
		return -1
	case b == origin:
		return 1
	case a < b:
		return -1
	}
	return 1
}

// ruleStatus evaluates the 3-2-1 rule for one target over its storages:
// the default storage, those named in also (the storages a listing
// read), and each of its copy storages; a storage that holds no backup of
// the target and is none of its copy storages does not count. Each is
// given ruleStorageTimeout to answer (an unreachable one counts as
// holding nothing).
func (w *Worker) ruleStatus(ctx context.Context, j *Job, target string, also []string) rule321.Status {
	cfg := w.config()
	copies := cfg.CopiesOf(target, "")
	names := slices.Clone(also)
	if ns, err := cfg.ResolveStorage(commands.StorageRef{}); err == nil {
		names = append(names, ns.Name)
	}
	names = append(names, copies...)
	slices.Sort(names)
	names = slices.Compact(names)
	type held struct {
		ns    config.NamedStorage
		snaps []engine.SnapshotInfo
		err   error
	}
	var all []held
	for _, name := range names {
		spec, ok := cfg.Storages[name]
		if !ok {
			continue
		}
		ns := config.NamedStorage{Name: name, Spec: spec}
		sctx, cancel := context.WithTimeout(ctx, ruleStorageTimeout)
		snaps, err := w.snapshotsIn(sctx, j, ns, engine.SnapshotFilter{Target: target})
		cancel()
		if err == nil && len(snaps) == 0 && !slices.Contains(copies, name) {
			continue // holds nothing of the target and should not
		}
		all = append(all, held{ns, snaps, err})
	}
	// The latest backup: the newest original (not a copy) anywhere, else
	// the newest copy (its source storage may be gone).
	var latest engine.SnapshotInfo
	better := func(s engine.SnapshotInfo) bool {
		switch {
		case latest.ID == "":
			return true
		case (s.Origin == nil) != (latest.Origin == nil):
			return s.Origin == nil
		}
		return s.Time.After(latest.Time)
	}
	for _, h := range all {
		for _, s := range h.snaps {
			if better(s) {
				latest = s
			}
		}
	}
	var in []rule321.Copy
	for _, h := range all {
		c := rule321.CopyOf(h.ns.Name, h.ns.Spec)
		if h.err != nil {
			c.Err = h.err.Error()
		}
		for _, s := range h.snaps {
			if s.Time.After(c.Newest) {
				c.Newest = s.Time
			}
			if latest.ID != "" && identity(s) == identity(latest) {
				c.HasLatest = true
			}
		}
		in = append(in, c)
	}
	return rule321.Evaluate(target, in, w.schedulePeriod(ctx, target), w.now())
}

// ruleStorageTimeout bounds how long the 3-2-1 line waits for one storage.
const ruleStorageTimeout = 30 * time.Second

// schedulePeriod is the shortest period of the backup schedules that
// cover target (0: none, or no Redis to read them from).
func (w *Worker) schedulePeriod(ctx context.Context, target string) time.Duration {
	if w.rdb == nil {
		return 0
	}
	entries, err := scheduleStore{w.rdb}.all(ctx)
	if err != nil {
		return 0
	}
	var best time.Duration
	now := w.now()
	for _, e := range entries {
		if e.Kind != "" && e.Kind != commands.ScheduleBackup {
			continue
		}
		if e.Target != target && e.Target != "all" && e.Target != "" {
			continue
		}
		s, err := parseCron(e.Cron)
		if err != nil {
			continue
		}
		n1 := s.Next(now)
		if p := s.Next(n1).Sub(n1); p > 0 && (best == 0 || p < best) {
			best = p
		}
	}
	return best
}

// ruleField is the 3-2-1 line of a target as a result field.
func ruleField(st rule321.Status) Field {
	return Field{"3-2-1", fmt.Sprintf("%s: %s", st.Target, st.Line())}
}

// localWorker is a worker without Redis for in-process use (backupctl).
func localWorker(deps Deps) (*Worker, *Job) {
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.OpenBackend == nil {
		deps.OpenBackend = storage.Open
	}
	return &Worker{deps: deps, log: deps.Logger}, &Job{Logger: deps.Logger}
}

// CopyHolders is for backupctl's list: given the snapshots it listed per
// storage (matching f), it returns for each backup the storages that hold
// it, reading the copy storages of the targets listed too.
func CopyHolders(ctx context.Context, deps Deps, got map[string][]engine.SnapshotInfo, f engine.SnapshotFilter) func(engine.SnapshotInfo) []string {
	w, j := localWorker(deps)
	if !w.copiesMatter(nil) && !slices.ContainsFunc(slices.Collect(maps.Values(got)), func(s []engine.SnapshotInfo) bool {
		return slices.ContainsFunc(s, func(s engine.SnapshotInfo) bool { return s.Origin != nil })
	}) {
		return func(engine.SnapshotInfo) []string { return nil }
	}
	return w.holders(ctx, j, got, f)
}

// ThreeTwoOne evaluates the 3-2-1 rule for a target in-process (backupctl
// list --target, the dashboard: Status.Line is its line) over the default
// storage, the storages named in also and the target's copy storages
// (see ruleStatus). rdb, when not
// nil, is where the schedules are, whose periods set how fresh copies
// must be; without it copies count as fresh for 26 hours.
func ThreeTwoOne(ctx context.Context, deps Deps, rdb redis.UniversalClient, target string, also ...string) rule321.Status {
	w, j := localWorker(deps)
	w.rdb = rdb
	return w.ruleStatus(ctx, j, target, also)
}
