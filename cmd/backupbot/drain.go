package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/jobs"
)

// drainPoll is how often finishThenStop looks at the queue.
const drainPoll = 200 * time.Millisecond

// drainRelayGrace is how long, once the queue is empty, finishThenStop
// waits for the router to post the last results to the console.
const drainRelayGrace = 5 * time.Second

// endOfInput is what serve does when the console's input ends: a process
// that runs workers finishes the jobs queued or running (saying so) and
// then stops; an interrupt meanwhile (ctx done) stops at once, naming the
// jobs handed back. Without workers it stops at once.
type endOfInput struct {
	ctx      context.Context
	client   *jobs.Client
	router   *bot.Router
	worker   bool
	embedded bool // the queue lives in this process's embedded Redis
	out      io.Writer
	logger   *slog.Logger
	stop     context.CancelFunc
}

func (e endOfInput) run() {
	defer e.stop()
	if !e.worker {
		e.logger.Info("console: end of input, stopping")
		return
	}
	seen := map[string]bool{}
	announced := false
	for {
		running, err := e.client.Running(e.ctx)
		if e.ctx.Err() != nil {
			e.handBack(seen)
			return
		}
		if err != nil {
			e.logger.Warn("console: end of input; cannot read the queue, stopping", "err", err)
			return
		}
		if len(running) == 0 {
			break
		}
		var ids []string
		for _, st := range running {
			ids = append(ids, st.Meta.JobID)
			seen[st.Meta.JobID] = true
		}
		if !announced {
			msg := fmt.Sprintf("End of input: finishing %d job(s) before stopping: %s. Press Ctrl-C to stop at once.", len(ids), strings.Join(ids, ", "))
			fmt.Fprintln(e.out, msg)
			e.logger.Info("console: end of input, finishing jobs before stopping", "jobs", ids)
			announced = true
		}
		select {
		case <-e.ctx.Done():
			e.handBack(seen)
			return
		case <-time.After(drainPoll):
		}
	}
	// Let the router post each job's result before the process goes.
	deadline := time.Now().Add(drainRelayGrace)
	for e.router != nil && len(seen) > 0 && time.Now().Before(deadline) && e.ctx.Err() == nil {
		relayed := 0
		for _, ev := range e.router.Recent() {
			if seen[ev.Meta.JobID] {
				relayed++
			}
		}
		if relayed >= len(seen) {
			break
		}
		time.Sleep(drainPoll)
	}
	if announced {
		fmt.Fprintln(e.out, "All jobs finished; stopping.")
	}
	e.logger.Info("console: end of input, stopping")
}

// handBack says, after an interrupt during the drain, which jobs were
// not finished and are handed back to the queue.
func (e endOfInput) handBack(seen map[string]bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), 2*time.Second)
	defer cancel()
	var left []string
	if running, err := e.client.Running(ctx); err == nil {
		for _, st := range running {
			left = append(left, st.Meta.JobID)
		}
	} else {
		for id := range seen {
			left = append(left, id)
		}
	}
	slices.Sort(left)
	if len(left) == 0 {
		fmt.Fprintln(e.out, "Interrupted: stopping now; no job was left unfinished.")
		return
	}
	where := "to the queue; a worker will run them again"
	if e.embedded {
		where = "to the embedded queue, which stops with this process: they are lost (set REDIS_URL to keep them)"
	}
	fmt.Fprintf(e.out, "Interrupted: stopping now; job(s) %s handed back %s.\n", strings.Join(left, ", "), where)
	e.logger.Warn("console: interrupted while finishing jobs; handed back", "jobs", left, "embedded_redis", e.embedded)
}
