package jobs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/internal/humanize"
	"github.com/backupbot/backupbot/storage/engine"
)

// create backs up the command's target. --target all makes one snapshot
// per configured target (each addressable by --target on restore, all
// sharing the --name when one is given), one after the other in the same
// repository. Each snapshot's JobID is "<job id>/<target>", so a retried
// job returns the snapshots an earlier attempt finished instead of making
// them again, and makes only the missing ones.
func (w *Worker) create(ctx context.Context, j *Job, c *commands.Create) (*Result, error) {
	cfg := w.config()
	ns, err := cfg.ResolveStorage(c.Storage)
	if err != nil {
		return nil, badInput(err)
	}
	// --target database-NAME dumps that configured database and backs
	// the dump up, as snapshot --resource database does.
	dbName, isDB := strings.CutPrefix(c.Target, config.DatabaseTargetPrefix)
	_, isTarget := cfg.Targets[c.Target]
	if _, ok := cfg.Databases[dbName]; !isDB || !ok || isTarget {
		dbName = ""
	}
	var targets []config.NamedTarget
	if dbName == "" {
		if targets, err = cfg.ResolveTargets(c.Target); err != nil {
			return nil, badInput(err)
		}
	}
	// A target path that is not there will not appear on a retry: say so
	// at once instead of backing off for minutes.
	for _, t := range targets {
		for _, p := range t.Target.Paths {
			if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
				return nil, badInput(fmt.Errorf("target %s: path %s does not exist on this worker: check the target's paths in the config, or that the volume is mounted", t.Name, p))
			}
		}
	}
	r, err := w.openRepo(ctx, ns, j, openOptions{Create: true, Encrypt: c.Encrypt, DeferIndex: true})
	if err != nil {
		return nil, err
	}
	defer r.Close()

	tags := withSchedule(tagMap(c.Tags), j.Meta.Schedule)
	at := w.simulatedNow()
	if len(targets) > 1 {
		// One backup set: the run's snapshots share a set tag and a time,
		// so restore --target all finds them together.
		tags = withSet(tags, j.Meta.JobID)
		if at.IsZero() {
			at = time.Now()
		}
	}
	// Every target is tried, a failed one does not stop the others; the
	// job fails naming the failed ones and shows what was backed up.
	results := make([]*engine.BackupResult, 0, len(targets))
	var failed []error
	if dbName != "" {
		res, err := w.dumpDatabase(ctx, j, r, engine.BackupRequest{
			Type: string(c.Type), Name: c.Name, Tags: tags, Compress: c.Compress, RequireEncryption: c.Encrypt,
			Retention: time.Duration(c.Retention) * 24 * time.Hour, Time: at,
		}, dbName, cfg.Databases[dbName], false)
		if err != nil {
			return nil, err
		}
		results = append(results, res)
	}
	for _, t := range targets {
		res, err := r.Backup(ctx, engine.BackupRequest{
			Paths:             t.Target.Paths,
			Exclude:           t.Target.Exclude,
			Type:              string(c.Type),
			Name:              c.Name,
			Target:            t.Name,
			Tags:              tags,
			Compress:          c.Compress,
			RequireEncryption: c.Encrypt,
			Retention:         time.Duration(c.Retention) * 24 * time.Hour,
			JobID:             j.Meta.JobID + "/" + t.Name,
			Time:              at,
		}, j.Progress)
		if err != nil {
			failed = append(failed, fmt.Errorf("back up target %s to storage %s: %w", t.Name, ns.Name, classify(err)))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		results = append(results, res)
	}
	if len(results) == 0 {
		return nil, errors.Join(failed...)
	}
	out := backupResult(ns.Name, results)
	partialResult(out, results)
	copies, copyErrs := w.enqueueCopies(ctx, j, ns.Name, results)
	out.Fields = append(out.Fields, copies...)
	failed = append(failed, copyErrs...)
	out.Fields = append(out.Fields, r.warningFields()...)
	r.addSize(ctx, j, out)
	if d := DiagnosticsOf(c); d.Verbose || d.Debug {
		if f, ok := phasesField(results); ok {
			out.Fields = append(out.Fields, f)
		}
	}
	if len(failed) > 0 {
		return out, errors.Join(failed...)
	}
	return out, nil
}

// SetTag is the snapshot tag shared by the snapshots of one backup set (a
// create --target all or snapshot --resource all run): its job id.
const SetTag = "set"

// withSet adds the backup set tag to tags.
func withSet(tags map[string]string, set string) map[string]string {
	out := make(map[string]string, len(tags)+1)
	for k, v := range tags {
		out[k] = v
	}
	out[SetTag] = set
	return out
}

func tagMap(tags []commands.Tag) map[string]string {
	if len(tags) == 0 {
		return nil
	}
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[t.Key] = t.Value
	}
	return m
}

// backupResult summarises one or more backups.
func backupResult(storageName string, rs []*engine.BackupResult) *Result {
	var files, newF, changed, unchanged, read, added int64
	var dur time.Duration
	names := make([]string, 0, len(rs))
	for _, r := range rs {
		files += r.Snapshot.Files
		newF += r.FilesNew
		changed += r.FilesChanged
		unchanged += r.FilesUnchanged
		read += r.BytesRead
		added += r.BytesAdded
		dur += r.Duration
		names = append(names, r.Snapshot.Name)
	}
	res := &Result{Data: rawJSON(rs)}
	if len(rs) == 1 {
		r := rs[0]
		s := r.Snapshot
		res.Summary = fmt.Sprintf("Backup %s done: %s, %s read, %s added to storage %s in %s",
			s.Name, plural(s.Files, "file"), humanize.Bytes(r.BytesRead), humanize.Bytes(r.BytesAdded), storageName, humanDuration(r.Duration))
		if r.Reused {
			res.Summary = fmt.Sprintf("Backup %s was already made by an earlier attempt of this job (snapshot %s); nothing new written", s.Name, short(s.ID))
		}
		res.Fields = []Field{
			{"Snapshot", fmt.Sprintf("%s (%s)", s.Name, short(s.ID))},
			{"Type", s.Type}, {"Target", s.Target}, {"Storage", storageName},
			{"Files", fmt.Sprintf("%s new, %s changed, %s unchanged", humanCount(r.FilesNew), humanCount(r.FilesChanged), humanCount(r.FilesUnchanged))},
			{"Size", humanize.Bytes(s.Size)},
			{"Read", humanize.Bytes(r.BytesRead)}, {"Added", humanize.Bytes(r.BytesAdded)},
			{"Dedup", ratio(r.DedupRatio)}, {"Compression", ratio(r.CompressionRatio)},
			{"Duration", humanDuration(r.Duration)},
		}
		for _, n := range r.Notices {
			res.Fields = append(res.Fields, Field{"Note", n})
		}
		return res
	}
	res.Summary = fmt.Sprintf("Backup of %d targets done: %s, %s read, %s added to storage %s in %s",
		len(rs), plural(files, "file"), humanize.Bytes(read), humanize.Bytes(added), storageName, humanDuration(dur))
	res.Fields = []Field{
		{"Snapshots", strings.Join(names, ", ")}, {"Storage", storageName},
		{"Files", fmt.Sprintf("%s new, %s changed, %s unchanged", humanCount(newF), humanCount(changed), humanCount(unchanged))},
		{"Read", humanize.Bytes(read)}, {"Added", humanize.Bytes(added)}, {"Duration", humanDuration(dur)},
	}
	for _, r := range rs {
		res.Fields = append(res.Fields, Field{r.Snapshot.Target, fmt.Sprintf("%s (%s), %s: %s, %s added, dedup %s, compression %s",
			r.Snapshot.Name, short(r.Snapshot.ID), r.Snapshot.Type, plural(r.Snapshot.Files, "file"), humanize.Bytes(r.BytesAdded), ratio(r.DedupRatio), ratio(r.CompressionRatio))})
	}
	return res
}

// short abbreviates a snapshot id to 8 characters.
func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func init() {
	register(commands.ActionCreate, actionSpec{Timeout: 12 * time.Hour, MaxRetry: 3, Queue: QueueDefault,
		Why: "idempotent by job id: the engine returns the snapshot an earlier attempt made"}, (*Worker).create)
}
