package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/internal/humanize"
	"github.com/backupbot/backupbot/storage"
	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/engine"
	"github.com/backupbot/backupbot/storage/probe"
)

// test checks that a storage is reachable and usable with storage/probe:
// it writes a probe object, reads it back, lists and deletes it, and
// reports each step's latency and the throughput. It needs no repository.
// A wrong key or a missing bucket/container fails at once with the
// probe's advice; an unreachable endpoint is tried once more.
func (w *Worker) test(ctx context.Context, j *Job, c *commands.Test) (*Result, error) {
	ns, err := w.config().ResolveStorage(c.Storage)
	if err != nil {
		return nil, badInput(err)
	}
	j.Progress(engine.Progress{Phase: "connect"})
	b, err := w.deps.OpenBackend(ctx, ns.Spec)
	if err != nil {
		return nil, fmt.Errorf("storage %s: cannot connect: %w", ns.Name, classify(err))
	}
	defer b.Close()
	j.Progress(engine.Progress{Phase: "probe", Path: b.Location()})
	pb := b
	if j.debug != nil {
		// The probe goes past retry layers: count its calls below them.
		for {
			u, ok := pb.(interface{ Unwrap() backend.Backend })
			if !ok {
				break
			}
			pb = u.Unwrap()
		}
		pb = counting(pb, &j.debug.calls)
	}
	rep, err := probe.Run(ctx, pb, probe.Options{})
	if rep == nil {
		return nil, fmt.Errorf("storage %s: probe: %w", ns.Name, err)
	}
	res := testResult(ns.Name, ns.Spec.Type, rep, c.Debug)
	if err != nil || !rep.OK() {
		fail := fmt.Errorf("storage %s: %s", ns.Name, rep.Summary)
		if err != nil { // err starts with the summary
			fail = fmt.Errorf("storage %s: %w", ns.Name, err)
		}
		if rep.Kind == probe.KindCredentials || rep.Kind == probe.KindMissing || errors.Is(err, context.Canceled) {
			return res, permanent(fail)
		}
		return res, fail
	}
	return res, nil
}

// testResult is a storage test's result: the probe's summary, each step's
// time and throughput, and the probe's own report (with debug, the failed
// step's whole chain of causes).
func testResult(name, kind string, rep *probe.Report, debug bool) *Result {
	if kind == "" {
		kind = storage.KindLocal
	}
	res := &Result{Summary: fmt.Sprintf("Test of storage %s (%s): %s", name, kind, rep.Summary), Data: rawJSON(struct {
		Storage string `json:"storage"`
		*probe.Report
	}{name, rep})}
	res.Fields = []Field{{"Storage", name}, {"Location", rep.Location}}
	if rep.WriteBytesPerSec > 0 {
		res.Fields = append(res.Fields, Field{"Write", humanize.Bytes(int64(rep.WriteBytesPerSec)) + "/s"})
	}
	if rep.ReadBytesPerSec > 0 {
		res.Fields = append(res.Fields, Field{"Read", humanize.Bytes(int64(rep.ReadBytesPerSec)) + "/s"})
	}
	if rep.Leftover != "" {
		res.Fields = append(res.Fields, Field{"Leftover", rep.Leftover + " could not be deleted; remove it by hand"})
	}
	var b strings.Builder
	if rep.WriteText(&b, debug) == nil {
		res.Fields = append(res.Fields, Field{"Probe", strings.TrimRight(b.String(), "\n")})
	}
	return res
}

func init() {
	register(commands.ActionTest, actionSpec{Timeout: 5 * time.Minute, MaxRetry: 1, Queue: QueueDefault,
		Why: "writes and deletes only its own probe object"}, (*Worker).test)
}
