package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/storage/probe"
)

// test checks that a storage is reachable and usable with storage/probe:
// it writes a probe object, reads it back, lists and deletes it, and
// reports each step's latency and the throughput. It needs no repository.
// A wrong key or a missing bucket/container fails at once with the
// probe's advice; an unreachable endpoint is tried once more.
func (w *Worker) test(ctx context.Context, j *Job) (*Result, error) {
	c, err := command[*commands.Test](j)
	if err != nil {
		return nil, err
	}
	ns, err := w.config().ResolveStorage(c.Storage)
	if err != nil {
		return nil, badInput(err)
	}
	j.Progress(Progress{Phase: "connect"})
	b, err := w.deps.OpenBackend(ctx, ns.Spec)
	if err != nil {
		return nil, fmt.Errorf("storage %s: cannot connect: %w", ns.Name, classify(err))
	}
	defer b.Close()
	j.Progress(Progress{Phase: "probe", Path: b.Location()})
	rep, err := probe.Run(ctx, b, probe.Options{})
	if rep == nil {
		return nil, fmt.Errorf("storage %s: probe: %w", ns.Name, err)
	}
	if err != nil || !rep.OK() {
		fail := fmt.Errorf("storage %s: %s", ns.Name, rep.Summary)
		if err != nil { // err starts with the summary
			fail = fmt.Errorf("storage %s: %w", ns.Name, err)
		}
		if rep.Kind == probe.KindCredentials || rep.Kind == probe.KindMissing || errors.Is(err, context.Canceled) {
			return nil, permanent(fail)
		}
		return nil, fail
	}
	res := &Result{Summary: fmt.Sprintf("Storage %s: %s", ns.Name, rep.Summary), Data: rawJSON(rep)}
	res.Fields = []Field{{"Storage", ns.Name}, {"Location", rep.Location}}
	for _, s := range rep.Steps {
		v := humanDuration(s.Duration)
		if s.Bytes > 0 && s.Duration > 0 {
			v += fmt.Sprintf(" (%s/s)", humanBytes(int64(float64(s.Bytes)/s.Duration.Seconds())))
		}
		res.Fields = append(res.Fields, Field{strings.ToUpper(s.Name[:1]) + s.Name[1:], v})
	}
	if rep.Leftover != "" {
		res.Fields = append(res.Fields, Field{"Leftover", rep.Leftover + " could not be deleted; remove it by hand"})
	}
	return res, nil
}
