package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/internal/humanize"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/storage/engine"
)

// SystemCopies is who the copy jobs a target's `copies:` asks for run as:
// the service itself, on the operator's behalf (the configuration file is
// their decision), like the retention job. No chat adapter produces the
// platform "system".
var SystemCopies = policy.Identity{Platform: "system", UserID: "copies", UserName: "copies"}

// isConfiguredCopy reports whether j is a copy that a target's copies:
// asked for after a backup: the policy re-check need not authorise it
// (nobody typed it; the backup it follows was checked).
func isConfiguredCopy(j *Job) bool {
	_, ok := j.Command.(*commands.Copy)
	return ok && j.Meta.Requester.Platform == SystemCopies.Platform && j.Meta.Requester.UserID == SystemCopies.UserID
}

// copyBackup copies one backup to another storage: only the data the
// destination lacks travels (engine.Copy). A destination without a
// repository gets one, with its own storage's password and encryption.
func (w *Worker) copyBackup(ctx context.Context, j *Job, c *commands.Copy) (*Result, error) {
	cfg := w.config()
	from, err := cfg.ResolveStorage(c.Storage)
	if err != nil {
		return nil, badInput(err)
	}
	to, err := cfg.ResolveStorage(commands.StorageRef{Name: c.To})
	if err != nil {
		return nil, badInput(fmt.Errorf("--to: %w", err))
	}
	if from.Name == to.Name {
		return nil, badInput(fmt.Errorf("the backup is in storage %s already; name another storage with --to", to.Name))
	}
	src, err := w.openRepo(ctx, from, j, openOptions{})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	dst, err := w.openRepo(ctx, to, j, openOptions{Create: true})
	if err != nil {
		return nil, err
	}
	defer dst.Close()
	target := oneTarget(c.Target)
	res, err := dst.Copy(ctx, src.Engine, engine.CopyRequest{Snapshot: c.Name, Target: target, SourceStorage: from.Name, JobID: j.Meta.JobID}, j.Progress)
	if err != nil {
		what := c.Name
		if what == "" {
			what = "the latest backup"
			if target != "" {
				what += " of " + target
			}
		}
		return nil, fmt.Errorf("copy %s from storage %s to %s: %w", what, from.Name, to.Name, classify(err))
	}
	out := copyResult(from.Name, to.Name, res)
	out.Fields = append(out.Fields, src.warningFields()...)
	out.Fields = append(out.Fields, dst.warningFields()...)
	return out, nil
}

func copyResult(from, to string, r *engine.CopyResult) *Result {
	s := r.Source
	res := &Result{Data: rawJSON(r)}
	if r.Reused {
		res.Summary = fmt.Sprintf("Storage %s holds a copy of backup %s (%s) already; nothing written", to, s.Name, short(s.ID))
	} else {
		res.Summary = fmt.Sprintf("Copied backup %s from %s to %s: %s written (%s new chunks, %s already there) in %s",
			s.Name, from, to, humanize.Bytes(r.BytesWritten), humanCount(r.BlobsCopied), humanCount(r.BlobsPresent), humanDuration(r.Duration))
	}
	res.Fields = []Field{
		{"Backup", fmt.Sprintf("%s (%s in %s, %s in %s)", s.Name, short(s.ID), from, short(r.Snapshot.ID), to)},
		{"Target", s.Target}, {"From", from}, {"To", to},
		{"Written", humanize.Bytes(r.BytesWritten)},
		{"Read", humanize.Bytes(r.BytesRead)},
		{"Chunks", fmt.Sprintf("%s copied, %s already there", humanCount(r.BlobsCopied), humanCount(r.BlobsPresent))},
		{"Duration", humanDuration(r.Duration)},
	}
	return res
}

// enqueueCopies queues a copy job per copy storage of each target just
// backed up (config targets.NAME.copies), into the backup's thread. Each
// is keyed by the backup job, target and storage, so a retried backup
// queues none twice. Failing to queue one is a field of the backup's
// result, not a failure of the backup.
func (w *Worker) enqueueCopies(ctx context.Context, j *Job, storageName string, results []*engine.BackupResult) ([]Field, []error) {
	if w.rdb == nil {
		return w.copyInProcess(ctx, j, storageName, results)
	}
	cfg := w.config()
	var fields []Field
	var client *Client
	for _, r := range results {
		for _, to := range cfg.CopiesOf(r.Snapshot.Target, storageName) {
			if client == nil {
				client = NewClient(w.opt, w.rdb, ClientOptions{Logger: w.log, Redact: w.deps.Redact})
				defer client.Close()
			}
			cmd := &commands.Copy{Name: r.Snapshot.ID, Target: r.Snapshot.Target, To: to, Storage: commands.StorageRef{Name: storageName}}
			meta := Meta{Requester: SystemCopies, Channel: j.Meta.Channel, Thread: j.Meta.Thread, Text: commands.Render(cmd)}
			key := fmt.Sprintf("copy:%s/%s/%s", j.Meta.JobID, r.Snapshot.Target, to)
			m, _, err := client.EnqueueOnce(ctx, cmd, meta, key)
			if err != nil {
				j.Logger.Warn("copy job not queued", "target", r.Snapshot.Target, "to", to, "err", err)
				fields = append(fields, Field{"⚠️ Copy", fmt.Sprintf("to %s NOT queued (%v); run /backup copy --name %s --to %s", to, err, short(r.Snapshot.ID), to)})
				continue
			}
			fields = append(fields, Field{"Copy", fmt.Sprintf("%s to %s: job %s", r.Snapshot.Target, to, m.JobID)})
		}
	}
	return fields, nil
}

// copyInProcess is enqueueCopies where there is no queue (backupctl,
// jobs.RunLocal): each copy runs here, after the backup, with the copy
// handler; a copy that fails is an error of the create.
func (w *Worker) copyInProcess(ctx context.Context, j *Job, storageName string, results []*engine.BackupResult) ([]Field, []error) {
	var fields []Field
	var errs []error
	for _, r := range results {
		for _, to := range w.config().CopiesOf(r.Snapshot.Target, storageName) {
			cmd := &commands.Copy{Name: r.Snapshot.ID, Target: r.Snapshot.Target, To: to, Storage: commands.StorageRef{Name: storageName}}
			cj := &Job{Meta: Meta{JobID: j.Meta.JobID + "/copy-" + to, Requester: SystemCopies, Text: commands.Render(cmd)},
				Command: cmd, Attempt: 1, progress: j.progress, Logger: j.Logger.With("copy_to", to)}
			res, err := w.copyBackup(ctx, cj, cmd)
			if err != nil {
				errs = append(errs, fmt.Errorf("copy of %s to %s: %w", r.Snapshot.Name, to, err))
				continue
			}
			fields = append(fields, Field{"Copy", res.Summary})
		}
	}
	return fields, errs
}

func init() {
	register(commands.ActionCopy, actionSpec{Timeout: 12 * time.Hour, MaxRetry: 3, Queue: QueueDefault,
		Why: "idempotent: a copy of the same backup is found by its origin; an interrupted one leaves packs the retry reuses"}, (*Worker).copyBackup)
}
