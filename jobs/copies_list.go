package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/backupbot/backupbot/alerts/rule321"
	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
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
	cfg := w.config()
	holders := map[string][]string{}
	add := func(storage string, s engine.SnapshotInfo) {
		id := identity(s)
		if !slices.Contains(holders[id], storage) {
			holders[id] = append(holders[id], storage)
		}
	}
	for _, r := range rows {
		add(r.Storage, r.SnapshotInfo)
	}
	seen := map[string]bool{}
	for _, ns := range listed {
		seen[ns.Name] = true
	}
	for _, r := range rows {
		for _, c := range cfg.CopiesOf(r.Target, "") {
			if seen[c] {
				continue
			}
			seen[c] = true
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
	for i := range rows {
		h := slices.Clone(holders[identity(rows[i].SnapshotInfo)])
		// The storage of the original first, then the copies by name.
		slices.SortFunc(h, func(a, b string) int {
			return compareHolders(a, b, rows[i].SnapshotInfo)
		})
		rows[i].Copies = h
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

// ruleStatus evaluates the 3-2-1 rule for one target over every storage
// that holds backups of it and each of its copy storages.
func (w *Worker) ruleStatus(ctx context.Context, j *Job, target string) rule321.Status {
	cfg := w.config()
	copies := cfg.CopiesOf(target, "")
	type held struct {
		ns    config.NamedStorage
		snaps []engine.SnapshotInfo
		err   error
	}
	var all []held
	for _, name := range sortedNames(cfg.Storages) {
		ns := config.NamedStorage{Name: name, Spec: cfg.Storages[name]}
		snaps, err := w.snapshotsIn(ctx, j, ns, engine.SnapshotFilter{Target: target})
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
