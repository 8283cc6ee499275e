package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/backupbot/backupbot/storage/repo"
	"github.com/backupbot/backupbot/storage/restorer"
)

// Restore writes a snapshot's files back: to their original paths, or
// under req.To (each original path P lands at To/P). With Preview it only
// returns the plan.
func (e *Engine) Restore(ctx context.Context, req RestoreRequest, p ProgressFunc) (*RestoreResult, error) {
	start := time.Now()
	lock, err := e.lockIndexed(ctx, "restore", "")
	if err != nil {
		return nil, err
	}
	defer e.unlock(ctx, lock)
	sn, notices, err := e.pickForRestore(ctx, req)
	if err != nil {
		return nil, err
	}
	notices = append(notices, e.indexNotices()...)
	opts := restorer.Options{
		Dest: req.To, Sources: sn.Paths, Filter: req.Filter, Preview: req.Preview, Validate: req.Validate, Logger: e.log,
		RecoverIndex: e.recoverIndex, Progress: p.phase(PhaseRestore),
	}
	res, err := restorer.Run(ctx, e.repo, sn.Tree, opts)
	if res == nil {
		return nil, fmt.Errorf("restoring snapshot %s (%s): %w", sn.Name, sn.ID.Short(), err)
	}
	info := infoOf(sn)
	if losses, _, lerr := e.losses(ctx); lerr == nil {
		info.Lost = lostFiles(losses[sn.ID])
	}
	out := &RestoreResult{
		Snapshot: info, FilesWritten: res.FilesWritten, BytesWritten: res.BytesWritten,
		Duration: time.Since(start), Warnings: res.Warnings, Lost: lostFiles(res.Lost), Notices: notices,
	}
	for _, pe := range res.Plan {
		out.Plan = append(out.Plan, PlanEntry(pe))
	}
	if err != nil {
		hint := "; verify --fix names what is lost for good and repairs what the source still holds"
		if !isLost(err) {
			hint = ""
		}
		return out, fmt.Errorf("restoring snapshot %s (%s): %w%s", sn.Name, sn.ID.Short(), err, hint)
	}
	return out, nil
}

// pickForRestore resolves the snapshot a restore request names; the
// notices name snapshot files that could not be read.
func (e *Engine) pickForRestore(ctx context.Context, req RestoreRequest) (*repo.Snapshot, []string, error) {
	all, bad, err := e.repo.LoadSnapshots(ctx)
	if err != nil {
		return nil, nil, err
	}
	notices := unreadableNotices(bad)
	sn, err := pickSnapshot(all, req)
	if err != nil && len(bad) > 0 {
		err = fmt.Errorf("%w (%d snapshot files cannot be read; verify names them)", err, len(bad))
	}
	return sn, notices, err
}

func pickSnapshot(all []*repo.Snapshot, req RestoreRequest) (*repo.Snapshot, error) {
	f := SnapshotFilter{Type: req.Type, Target: req.Target}
	var cands []*repo.Snapshot
	for _, sn := range all {
		if f.match(sn) {
			cands = append(cands, sn)
		}
	}
	what := "snapshots"
	if req.Target != "" {
		what += " of target " + req.Target
	}
	if req.Type != "" {
		what += " of type " + req.Type
	}
	if req.Snapshot == "" && !req.At.IsZero() {
		for _, sn := range cands {
			if !sn.Time.After(req.At) {
				return sn, nil
			}
		}
		return nil, fmt.Errorf("no %s at or before %s: %w", what, req.At.Local().Format(time.DateTime), ErrSnapshotNotFound)
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("no %s in the repository: %w", what, ErrSnapshotNotFound)
	}
	return resolve(cands, req.Snapshot)
}
