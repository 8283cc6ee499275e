package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/internal/humanize"
	"github.com/backupbot/backupbot/storage/engine"
)

// verify checks one backup (--name), every backup (--all) or the latest,
// quickly or --deep; --fix repairs the index; --report attaches the full
// report. Problems found make the job fail with the damaged files named,
// so the thread shows a failure an engineer has to look at.
func (w *Worker) verify(ctx context.Context, j *Job, c *commands.Verify) (*Result, error) {
	o := openOptions{RebuildConfig: c.Fix, Fresh: true}
	if c.RestoreTest {
		o = openOptions{} // a drill repairs nothing, and may use the worker's cache
	}
	r, err := w.storageRepo(ctx, j, c.Storage, o)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if c.RestoreTest {
		return drill(ctx, j, c, r)
	}
	ns := r.storage
	rep, err := r.Verify(ctx, engine.VerifyRequest{Snapshot: c.Name, All: c.All, Deep: c.Deep, Fix: c.Fix}, j.Progress)
	if err != nil {
		return nil, fmt.Errorf("verify storage %s: %w", ns.Name, classify(err))
	}
	res := verifyResult(c, ns.Name, r.Location(), rep, w.now())
	res.Fields = append(res.Fields, r.warningFields()...)
	if !rep.OK() {
		// The job fails, and for good: verifying again finds the same.
		return nil, FailedWithResult(res, verifyFailure(c, ns.Name, rep))
	}
	return res, nil
}

// verifyFailure is the failed job's reason: how many problems, the first
// few with their snapshot and file, and what to do.
func verifyFailure(c *commands.Verify, storageName string, rep *engine.VerifyReport) error {
	depth := "quick"
	if c.Deep {
		depth = "deep"
	}
	const shown = 3
	var b strings.Builder
	fmt.Fprintf(&b, "verify (%s) of storage %s found %d problem(s): ", depth, storageName, len(rep.Problems))
	for i, p := range rep.Problems {
		if i == shown {
			fmt.Fprintf(&b, "; … and %d more (see the report)", len(rep.Problems)-shown)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(problemLine(p))
	}
	b.WriteString(". Restore what is affected from another backup or storage, and run verify --fix")
	return errors.New(b.String())
}

func verifyResult(c *commands.Verify, storageName, location string, rep *engine.VerifyReport, now time.Time) *Result {
	depth := "quick"
	if c.Deep || c.Fix { // a repair checks every blob
		depth = "deep"
	}
	res := &Result{Data: rawJSON(rep)}
	res.Fields = []Field{
		{"Storage", storageName}, {"Depth", depth},
		{"Snapshots", humanCount(int64(rep.Snapshots))}, {"Packs", humanCount(int64(rep.Packs))},
		{"Chunks", humanCount(int64(rep.Chunks))}, {"Data read", humanize.Bytes(rep.BytesVerified)},
	}
	if rep.Unreferenced > 0 {
		res.Fields = append(res.Fields, Field{"Unreferenced packs", fmt.Sprintf("%d (left by interrupted backups; a cleanup removes them)", rep.Unreferenced)})
	}
	if len(rep.StaleLocks) > 0 {
		res.Fields = append(res.Fields, Field{"Stale locks", strings.Join(rep.StaleLocks, ", ")})
	}
	if len(rep.Fixed) > 0 {
		res.Fields = append(res.Fields, Field{"Fixed", strings.Join(rep.Fixed, "; ")})
	}
	if len(rep.Notes) > 0 {
		res.Fields = append(res.Fields, Field{"Notes", strings.Join(rep.Notes, "; ")})
	}
	if rep.OK() {
		res.Summary = fmt.Sprintf("Verify (%s) of %s: %s ok, no problems found", depth, storageName, plural(rep.Snapshots, "snapshot"))
	} else {
		res.Summary = fmt.Sprintf("Verify (%s) of %s found %d PROBLEMS: restore from another backup or storage, and run verify --fix", depth, storageName, len(rep.Problems))
		var b strings.Builder
		for i, p := range rep.Problems {
			if i == 10 {
				fmt.Fprintf(&b, "… and %d more (see the attached report)\n", len(rep.Problems)-10)
				break
			}
			b.WriteString(problemLine(p) + "\n")
		}
		res.Fields = append(res.Fields, Field{"Problems", strings.TrimRight(b.String(), "\n")})
	}
	if c.Report || len(rep.Problems) > 10 {
		res.Report = verifyReport(c, storageName, location, rep, now)
	}
	return res
}

// verifyReport is verify --report's attachment, in Markdown:
// verify-report-STORAGE-TIME.md (backupctl writes it into the working
// directory).
func verifyReport(c *commands.Verify, storageName, location string, rep *engine.VerifyReport, now time.Time) *Report {
	kind := "quick"
	if c.Deep || c.Fix {
		kind = "deep"
	}
	scope := "all backups"
	if c.Name != "" {
		scope = "backup " + c.Name
	}
	status := "✅ no problems found"
	if !rep.OK() {
		status = "❌ " + plural(len(rep.Problems), "problem")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Verification report: %s\n\n| | |\n|---|---|\n", storageName)
	for _, row := range [][2]string{
		{"Result", status},
		{"Storage", fmt.Sprintf("%s (`%s`)", storageName, location)},
		{"Checked", fmt.Sprintf("%s, %s verification", scope, kind)},
		{"When", now.UTC().Format(time.RFC3339)},
		{"Snapshots", fmt.Sprint(rep.Snapshots)},
		{"Packs", fmt.Sprint(rep.Packs)},
		{"Chunk references", fmt.Sprint(rep.Chunks)},
		{"Bytes read and checked", humanize.Bytes(rep.BytesVerified)},
		{"Unreferenced packs", fmt.Sprint(rep.Unreferenced)},
	} {
		fmt.Fprintf(&b, "| %s | %s |\n", row[0], strings.ReplaceAll(row[1], "|", `\|`))
	}
	section := func(title string, lines []string) {
		if len(lines) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n## %s\n\n", title)
		for _, l := range lines {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	problems := make([]string, len(rep.Problems))
	for i, p := range rep.Problems {
		problems[i] = quoteName(problemLine(p))
	}
	section("Problems", problems)
	section("Stale locks (verify --fix removes them)", rep.StaleLocks)
	section("Fixed", rep.Fixed)
	section("Notes", rep.Notes)
	name := fmt.Sprintf("verify-report-%s-%s.md", storageName, now.UTC().Format("20060102-150405"))
	return &Report{Name: name, Data: []byte(b.String())}
}

func problemLine(p engine.Problem) string {
	var where []string
	if p.Snapshot != "" {
		where = append(where, "snapshot "+p.Snapshot)
	}
	if p.File != "" {
		where = append(where, "file "+p.File)
	}
	if p.Pack != "" {
		where = append(where, "pack "+short(p.Pack))
	}
	if len(where) == 0 {
		return p.Detail
	}
	return strings.Join(where, ", ") + ": " + p.Detail
}

func init() {
	register(commands.ActionVerify, actionSpec{Timeout: 12 * time.Hour, MaxRetry: 2, Queue: QueueDefault,
		Why: "read-only (--fix rebuilds the index, which a rerun repeats harmlessly)"}, (*Worker).verify)
}
