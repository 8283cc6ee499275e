package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/storage/engine"
)

// verify checks one backup (--name), every backup (--all) or the latest,
// quickly or --deep; --fix repairs the index; --report attaches the full
// report. Problems found make the job fail with the damaged files named,
// so the thread shows a failure an engineer has to look at.
func (w *Worker) verify(ctx context.Context, j *Job) (*Result, error) {
	c, err := command[*commands.Verify](j)
	if err != nil {
		return nil, err
	}
	ns, err := w.config().ResolveStorage(c.Storage)
	if err != nil {
		return nil, badInput(err)
	}
	if c.RestoreTest {
		return w.drill(ctx, j, c, ns)
	}
	r, err := w.openRepo(ctx, ns, j, openOptions{RebuildConfig: c.Fix, Fresh: true})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	rep, err := r.Verify(ctx, engine.VerifyRequest{Snapshot: c.Name, All: c.All, Deep: c.Deep, Fix: c.Fix}, engineProgress(j))
	if err != nil {
		return nil, fmt.Errorf("verify storage %s: %w", ns.Name, classify(err))
	}
	res := verifyResult(c, ns.Name, rep)
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

func verifyResult(c *commands.Verify, storageName string, rep *engine.VerifyReport) *Result {
	depth := "quick"
	if c.Deep || c.Fix { // a repair checks every blob
		depth = "deep"
	}
	res := &Result{Data: rawJSON(rep)}
	res.Fields = []Field{
		{"Storage", storageName}, {"Depth", depth},
		{"Snapshots", humanCount(int64(rep.Snapshots))}, {"Packs", humanCount(int64(rep.Packs))},
		{"Chunks", humanCount(int64(rep.Chunks))}, {"Data read", humanBytes(rep.BytesVerified)},
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
		res.Summary = fmt.Sprintf("Verify (%s) of %s: %d snapshots ok, no problems found", depth, storageName, rep.Snapshots)
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
		var b strings.Builder
		fmt.Fprintf(&b, "%s\n\n", res.Summary)
		for _, f := range res.Fields {
			if f.Label != "Problems" {
				fmt.Fprintf(&b, "%-12s %s\n", f.Label+":", f.Value)
			}
		}
		for _, p := range rep.Problems {
			b.WriteString("\n" + problemLine(p))
		}
		res.Report = &Report{Name: "verify-report.txt", Data: []byte(b.String() + "\n")}
	}
	return res
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
