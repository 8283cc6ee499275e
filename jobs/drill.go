package jobs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/internal/humanize"
	"github.com/backupbot/backupbot/storage/engine"
)

// DrillData is a recovery drill's job result data (Result.Data): the
// storage drilled and the engine's report, one entry per snapshot with its
// target, files and bytes checked and measured RTO. The metrics and the
// dashboard read it from the job record.
type DrillData struct {
	Storage string `json:"storage"`
	engine.DrillReport
}

// drillFailuresShown is how many failed files a drill's error names.
const drillFailuresShown = 3

// drill is verify --restore-test: a recovery drill. It restores the backup
// (--name; with --all the newest backup of each target), or --sample of
// its files, to a scratch directory under the worker's temporary
// directory (removed after), checks every restored byte against the
// stored hashes and, where the source is unchanged, against the source,
// and reports the restore time per GiB. A file that does not restore
// intact fails the job, named; the failure opens an incident.
func drill(ctx context.Context, j *Job, c *commands.Verify, r *repo) (*Result, error) {
	ns := r.storage
	scratch, err := os.MkdirTemp("", "backupbot-drill-"+j.Meta.JobID+"-")
	if err != nil {
		return nil, fmt.Errorf("make the drill's scratch directory: %w", err)
	}
	defer os.RemoveAll(scratch)
	rep, err := r.Drill(ctx, engine.DrillRequest{Snapshot: c.Name, All: c.All, Sample: float64(c.Sample), Scratch: scratch}, j.Progress)
	if err != nil {
		return nil, fmt.Errorf("recovery drill of storage %s: %w", ns.Name, classify(err))
	}
	res := drillResult(c, ns.Name, rep)
	res.Fields = append(res.Fields, r.warningFields()...)
	if !rep.OK() {
		return nil, FailedWithResult(res, drillFailure(ns.Name, rep))
	}
	return res, nil
}

func drillFailure(storageName string, rep *engine.DrillReport) error {
	var b strings.Builder
	n := 0
	for _, s := range rep.Snapshots {
		n += len(s.Failures)
	}
	fmt.Fprintf(&b, "recovery drill of storage %s FAILED: %d file(s) did not restore intact: ", storageName, n)
	shown := 0
	for _, s := range rep.Snapshots {
		for _, f := range s.Failures {
			if shown == drillFailuresShown {
				fmt.Fprintf(&b, "; … and %d more (see the report)", n-shown)
				break
			}
			if shown > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "snapshot %s (%s), file %s: %s", s.Snapshot.Name, short(s.Snapshot.ID), quoteName(f.File), f.Reason)
			shown++
		}
	}
	b.WriteString(". Run verify --deep to see all the damage, and restore those files from another backup or storage")
	return errors.New(b.String())
}

// totals sums a drill's snapshots.
func drillTotals(rep *engine.DrillReport) (files, bytes, source int64, restore float64) {
	for _, s := range rep.Snapshots {
		files += s.Files
		bytes += s.Bytes
		source += s.SourceFiles
		restore += s.Restore.Seconds()
	}
	return files, bytes, source, restore
}

func drillResult(c *commands.Verify, storageName string, rep *engine.DrillReport) *Result {
	files, bytes, source, restore := drillTotals(rep)
	rto := engine.RTOPerGiB(time.Duration(restore*float64(time.Second)), bytes)
	what := "whole backups"
	if c.Sample > 0 && c.Sample < 100 {
		what = fmt.Sprintf("a %g%% sample", float64(c.Sample))
	}
	res := &Result{Data: rawJSON(DrillData{Storage: storageName, DrillReport: *rep})}
	if rep.OK() {
		res.Summary = fmt.Sprintf("Recovery drill of %s passed: %s (%s) restored and checked, measured RTO %.1f s/GiB", storageName, plural(files, "file"), humanize.Bytes(bytes), rto)
	} else {
		res.Summary = fmt.Sprintf("Recovery drill of %s FAILED: some files did not restore intact (see Failed)", storageName)
	}
	res.Fields = []Field{
		{"Storage", storageName}, {"Restored", what},
		{"Files checked", humanCount(files)}, {"Bytes checked", humanize.Bytes(bytes)},
		{"Compared with source", drillSourceNote(files, source)},
		{"Measured RTO", fmt.Sprintf("%.1f s/GiB (%.1f s restoring)", rto, restore)},
	}
	var failed, per strings.Builder
	for _, s := range rep.Snapshots {
		fmt.Fprintf(&per, "%s (%s) of %s: %s/%s files, %s, %.1f s, %.1f s/GiB\n", s.Snapshot.Name, short(s.Snapshot.ID), s.Snapshot.Target,
			humanCount(s.Files), humanCount(s.FilesInSnapshot), humanize.Bytes(s.Bytes), s.Restore.Seconds(), s.RTOSecondsPerGiB)
		for _, f := range s.Failures {
			fmt.Fprintf(&failed, "%s: %s: %s\n", s.Snapshot.Name, quoteName(f.File), f.Reason)
		}
	}
	res.Fields = append(res.Fields, Field{"Snapshots", strings.TrimRight(per.String(), "\n")})
	if failed.Len() > 0 {
		res.Fields = append(res.Fields, Field{"Failed", strings.TrimRight(failed.String(), "\n")})
	}
	if c.Report {
		var b strings.Builder
		fmt.Fprintf(&b, "%s\n\n", res.Summary)
		for _, f := range res.Fields {
			fmt.Fprintf(&b, "%s:\n%s\n\n", f.Label, f.Value)
		}
		res.Report = &Report{Name: "drill-report.txt", Data: []byte(b.String())}
	}
	return res
}

func drillSourceNote(files, source int64) string {
	if source == files {
		return humanCount(source) + " files, all of them"
	}
	return fmt.Sprintf("%s of %s files (the others changed since, are gone, or were backed up on another host)", humanCount(source), humanCount(files))
}
