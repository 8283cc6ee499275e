package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/storage/engine"
)

// analyze reports on one backup (--name, default the latest): its size,
// what it added, how well it deduplicated against the repository, and with
// --performance its throughput.
func (w *Worker) analyze(ctx context.Context, j *Job) (*Result, error) {
	c, err := command[*commands.Analyze](j)
	if err != nil {
		return nil, err
	}
	r, err := w.storageRepo(ctx, j, c.Storage, openOptions{})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	ns := r.storage
	ref := c.Name
	if ref == "" {
		ref = "latest"
	}
	s, err := r.Find(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("find backup %q in storage %s: %w", ref, ns.Name, classify(err))
	}
	all, err := r.Snapshots(ctx, engine.SnapshotFilter{Target: s.Target})
	if err != nil {
		return nil, fmt.Errorf("list backups in storage %s: %w", ns.Name, classify(err))
	}
	dedup := 0.0
	if s.Added > 0 {
		dedup = float64(s.Size) / float64(s.Added)
	}
	res := &Result{Data: rawJSON(s)}
	res.Summary = fmt.Sprintf("Backup %s: %s in %s files; it added %s to the repository", s.Name, humanBytes(s.Size), humanCount(s.Files), humanBytes(s.Added))
	res.Fields = []Field{
		{"Snapshot", fmt.Sprintf("%s (%s)", s.Name, short(s.ID))}, {"Type", s.Type}, {"Target", s.Target},
		{"Time", s.Time.Local().Format("2006-01-02 15:04:05")}, {"Host", s.Host},
		{"Files", humanCount(s.Files)}, {"Dirs", humanCount(s.Dirs)},
		{"Size", humanBytes(s.Size)}, {"Added", humanBytes(s.Added)}, {"Dedup (size/added)", ratio(dedup)},
		{"Backups of this target", humanCount(int64(len(all)))},
	}
	if s.Parent != "" {
		res.Fields = append(res.Fields, Field{"Parent", short(s.Parent)})
	}
	if !s.ExpiresAt.IsZero() {
		res.Fields = append(res.Fields, Field{"Expires", s.ExpiresAt.Local().Format("2006-01-02 15:04")})
	}
	if c.Performance {
		res.Fields = append(res.Fields, Field{"Duration", humanDuration(s.Duration)})
		if secs := s.Duration.Seconds(); secs > 0 {
			res.Fields = append(res.Fields,
				Field{"Throughput", humanBytes(int64(float64(s.Size)/secs)) + "/s"},
				Field{"Files per second", fmt.Sprintf("%.0f", float64(s.Files)/secs)},
				Field{"Written per second", humanBytes(int64(float64(s.Added)/secs)) + "/s"})
		}
	}
	return res, nil
}

func init() {
	register(commands.ActionAnalyze, actionSpec{Timeout: time.Hour, MaxRetry: 1, Queue: QueueDefault,
		Why: "read-only"}, (*Worker).analyze)
}
