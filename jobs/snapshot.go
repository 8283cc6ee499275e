package jobs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/jobs/dbdump"
	"github.com/backupbot/backupbot/storage/engine"
)

// snapshot takes a point-in-time snapshot of infrastructure state into the
// repository:
//   - database: every database under databases: in the config is dumped
//     with its own tool (pg_dump, mariadb-dump) and the dump is backed up
//     as target "database-<name>" (restore it with --name, or --to DIR);
//   - storage: a full backup of every configured target;
//   - vm: backupbot has no hypervisor integration, so a vm snapshot is
//     refused with a message saying so (take it with the hypervisor's own
//     tooling); with --resource all it is skipped and the result says so;
//   - all: database (when any is configured) and storage.
//
// --tags and --expire (hours, as the snapshot's retention) apply to every
// snapshot made; each is idempotent by job id like create.
func (w *Worker) snapshot(ctx context.Context, j *Job, c *commands.Snapshot) (*Result, error) {
	if c.Resource == commands.ResourceVM {
		return nil, badInput(fmt.Errorf("vm snapshots are not supported: backupbot has no hypervisor integration; take them with your hypervisor's tooling, or use --resource storage or database"))
	}
	cfg := w.config()
	ns, err := cfg.ResolveStorage(c.Storage)
	if err != nil {
		return nil, badInput(err)
	}
	doDB := c.Resource == commands.ResourceDatabase || (c.Resource == commands.ResourceAll && len(cfg.Databases) > 0)
	doFiles := c.Resource == commands.ResourceStorage || c.Resource == commands.ResourceAll
	if c.Resource == commands.ResourceDatabase && len(cfg.Databases) == 0 {
		return nil, badInput(fmt.Errorf("no databases are configured: add them under databases: in the config (type, name, host, user, password_env)"))
	}
	var targets []config.NamedTarget
	if doFiles {
		if targets, err = cfg.ResolveTargets("all"); err != nil {
			return nil, badInput(err)
		}
	}
	r, err := w.openRepo(ctx, ns, j, openOptions{Create: true})
	if err != nil {
		return nil, err
	}
	defer r.Close()

	tags := tagMap(c.Tags)
	if tags == nil {
		tags = map[string]string{}
	}
	tags["snapshot"] = string(c.Resource)
	tags[SetTag] = j.Meta.JobID // one backup set: one tag, one time
	at := w.simulatedNow()
	if at.IsZero() {
		at = time.Now()
	}
	base := engine.BackupRequest{
		Time:      at,
		Type:      engine.TypeFull,
		Name:      c.Name,
		Tags:      tags,
		Compress:  true,
		Retention: time.Duration(c.Expire) * time.Hour,
	}
	var results []*engine.BackupResult
	if doDB {
		for _, name := range slices.Sorted(maps.Keys(cfg.Databases)) {
			res, err := w.dumpDatabase(ctx, j, r, base, name, cfg.Databases[name], c.Consistent)
			if err != nil {
				return nil, err
			}
			results = append(results, res)
		}
	}
	for _, t := range targets {
		req := base
		req.Paths, req.Exclude, req.Target = t.Target.Paths, t.Target.Exclude, t.Name
		req.JobID = j.Meta.JobID + "/" + t.Name
		res, err := r.Backup(ctx, req, j.Progress)
		if err != nil {
			return nil, fmt.Errorf("snapshot target %s to storage %s: %w", t.Name, ns.Name, classify(err))
		}
		results = append(results, res)
	}
	out := backupResult(ns.Name, results)
	out.Summary = strings.Replace(out.Summary, "Backup", fmt.Sprintf("Snapshot (%s)", c.Resource), 1)
	if d := DiagnosticsOf(c); d.Verbose || d.Debug {
		if f, ok := phasesField(results); ok {
			out.Fields = append(out.Fields, f)
		}
	}
	if c.Resource == commands.ResourceAll {
		out.Fields = append(out.Fields, Field{"vm", "skipped: backupbot has no hypervisor integration"})
		if !doDB {
			out.Fields = append(out.Fields, Field{"database", "skipped: no databases are configured"})
		}
	}
	return out, nil
}

// dumpDatabase dumps one database to a stable path (so successive dumps
// deduplicate and restore to the same place) and backs the dump up.
func (w *Worker) dumpDatabase(ctx context.Context, j *Job, r *repo, base engine.BackupRequest, name string, db config.Database, consistent bool) (*engine.BackupResult, error) {
	tool, err := dbdump.For(db, consistent)
	if err != nil {
		return nil, permanent(err)
	}
	dir := filepath.Join(os.TempDir(), "backupbot-dumps", name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("make dump directory: %w", err)
	}
	// Other jobs dumping this database use the same path: hold the
	// directory's lock until this dump is backed up and removed.
	release, err := dbdump.LockDir(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer release()
	path := filepath.Join(dir, name+tool.Ext)
	defer os.Remove(path)
	j.Progress(engine.Progress{Phase: "dump", Path: name})
	if err := tool.Run(ctx, path); err != nil {
		err = fmt.Errorf("dump database %s (%s %s): %w", name, db.Type, db.Name, err)
		if errors.Is(err, dbdump.ErrRejected) {
			// Wrong password, unknown database: a retry cannot help.
			return nil, permanent(err)
		}
		return nil, err
	}
	req := base
	req.Paths = []string{path}
	req.Target = "database-" + name
	req.JobID = j.Meta.JobID + "/database-" + name
	res, err := r.Backup(ctx, req, j.Progress)
	if err != nil {
		return nil, fmt.Errorf("back up the dump of database %s: %w", name, classify(err))
	}
	return res, nil
}

func init() {
	register(commands.ActionSnapshot, actionSpec{Timeout: 2 * time.Hour, MaxRetry: 2, Queue: QueueDefault,
		Why: "each snapshot is a backup idempotent by job id"}, (*Worker).snapshot)
}
