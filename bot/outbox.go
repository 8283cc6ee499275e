package bot

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/backupbot/backupbot/bot/render"
	"github.com/backupbot/backupbot/internal/tick"
	"github.com/backupbot/backupbot/jobs"
)

// Defaults of the outbox: Slack and Discord both allow about one message
// per second per channel.
const (
	DefaultPostInterval = time.Second
	// postBurst posts may go out back to back before the pace applies
	// (both platforms tolerate short bursts).
	postBurst = 3
	// busySlots: a channel with more posts than this waiting beyond the
	// burst is busy; finished jobs that have no messages there yet are
	// reported in a batch instead of a thread each.
	busySlots = 3
	// batchLines and batchBytes bound one batch message.
	batchLines = 40
	batchBytes = 3500
	// maxBatched bounds the lines waiting per channel; beyond it the
	// oldest are merged into a count (never silently dropped).
	maxBatched = 2000
)

// outbox paces the relay's posts per channel (at most one per interval;
// the platform's 429s are still honoured by the adapters) and gathers the
// results of jobs that finish while their channel is busy into batch
// messages. It never blocks the acknowledgement path: only the relay's
// per-job goroutines and its own flushers wait on it.
type outbox struct {
	interval time.Duration
	log      *slog.Logger

	mu       sync.Mutex
	next     map[string]time.Time // channel key -> earliest free slot
	batches  map[string]*batch
	flushers sync.WaitGroup
}

// batch is what waits for one channel's next batch message.
type batch struct {
	surface  Surface
	platform string
	channel  string
	lines    []string
	dropped  int // lines merged into a count when the batch overflowed
}

func newOutbox(interval time.Duration, log *slog.Logger) *outbox {
	if interval <= 0 {
		interval = DefaultPostInterval
	}
	return &outbox{interval: interval, log: log, next: map[string]time.Time{}, batches: map[string]*batch{}}
}

func chanKey(platform, channel string) string {
	id, _, _ := strings.Cut(channel, "|")
	return platform + "/" + id
}

// reserve books the channel's next posting slot and says how long to wait
// for it: postBurst posts at once, then one per interval (a GCRA: next is
// the theoretical time the channel has caught up).
func (o *outbox) reserve(key string) time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := time.Now()
	tat := o.next[key]
	if tat.Before(now) {
		tat = now
	}
	tat = tat.Add(o.interval)
	o.next[key] = tat
	if len(o.next) > 10000 { // forget channels long quiet
		for k, t := range o.next {
			if now.Sub(t) > time.Minute {
				delete(o.next, k)
			}
		}
	}
	return max(0, tat.Sub(now)-postBurst*o.interval)
}

// busy reports whether the channel's posting backlog is long.
func (o *outbox) busy(platform, channel string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	tat, ok := o.next[chanKey(platform, channel)]
	return ok && tat.After(time.Now().Add((postBurst+busySlots)*o.interval))
}

// add queues one finished job's line for the channel's next batch message,
// starting its flusher when none is running.
func (o *outbox) add(ctx context.Context, s Surface, platform, channel, line string) {
	key := chanKey(platform, channel)
	o.mu.Lock()
	b := o.batches[key]
	start := b == nil
	if start {
		b = &batch{surface: s, platform: platform, channel: channel}
		o.batches[key] = b
	}
	if len(b.lines) >= maxBatched {
		b.lines = b.lines[1:]
		b.dropped++
	}
	b.lines = append(b.lines, line)
	o.mu.Unlock()
	if start {
		o.flushers.Add(1)
		go o.flush(context.WithoutCancel(ctx), key)
	}
}

// flush posts a channel's batch at its next slots until it is empty.
func (o *outbox) flush(ctx context.Context, key string) {
	defer o.flushers.Done()
	for {
		_ = tick.Sleep(ctx, o.reserve(key))
		o.mu.Lock()
		b := o.batches[key]
		n, size := 0, 0
		for n < len(b.lines) && n < batchLines && size+len(b.lines[n]) < batchBytes {
			size += len(b.lines[n]) + 1
			n++
		}
		n = max(n, min(1, len(b.lines)))
		lines, dropped, left := b.lines[:n:n], b.dropped, len(b.lines)-n
		b.lines, b.dropped = b.lines[n:], 0
		if len(b.lines) == 0 {
			delete(o.batches, key)
		}
		o.mu.Unlock()

		text := fmt.Sprintf("📦 %d job(s) finished while this channel was busy:\n%s", len(lines), strings.Join(lines, "\n"))
		if dropped > 0 {
			text += fmt.Sprintf("\n…and %d more finished earlier (`/backup status JOB` has each one)", dropped)
		}
		if left > 0 {
			text += fmt.Sprintf("\n(%d more follow)", left)
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		_, err := b.surface.Post(pctx, b.channel, "", Message{Text: text})
		cancel()
		if err != nil {
			o.log.Warn("router: posting a batch of job results", "channel", b.channel, "jobs", len(lines), "err", err)
		}
		if left == 0 {
			return
		}
	}
}

// batchLine is one finished job in a batch message.
func batchLine(ev jobs.Event) string {
	what := fmt.Sprintf("`%s` `%s` by %s", ev.Meta.JobID, ev.Meta.Text, render.Who(ev.Meta))
	switch ev.Kind {
	case jobs.EventSucceeded:
		if ev.Result != nil && ev.Result.Summary != "" {
			return "• ✅ " + what + ": " + firstLine(ev.Result.Summary)
		}
		return "• ✅ " + what + ": done"
	case jobs.EventCanceled:
		return "• ⏹ " + what + ": " + orText(ev.Error, "canceled")
	default:
		return "• ❌ " + what + ": " + firstLine(orText(ev.Error, "failed")) + " (`/backup status " + ev.Meta.JobID + "`)"
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// pacedSurface is a Surface whose Post and Attach wait for the channel's
// slot in the outbox. Edits are paced by the adapters' edit queues, and
// ephemeral answers go to one person: neither is paced here.
type pacedSurface struct {
	Surface
	platform string
	out      *outbox
}

func (p *pacedSurface) Post(ctx context.Context, channel, thread string, msg Message) (MessageRef, error) {
	if err := tick.Sleep(ctx, p.out.reserve(chanKey(p.platform, channel))); err != nil {
		return MessageRef{}, fmt.Errorf("waiting for the channel's posting slot: %w", err)
	}
	return p.Surface.Post(ctx, channel, thread, msg)
}

func (p *pacedSurface) Attach(ctx context.Context, channel, thread, filename string, data []byte, comment string) error {
	if err := tick.Sleep(ctx, p.out.reserve(chanKey(p.platform, channel))); err != nil {
		return fmt.Errorf("waiting for the channel's posting slot: %w", err)
	}
	return p.Surface.Attach(ctx, channel, thread, filename, data, comment)
}

// unpaced is s without the outbox (for answers on the acknowledgement path).
func unpaced(s Surface) Surface {
	if p, ok := s.(*pacedSurface); ok {
		return p.Surface
	}
	return s
}

// batchable reports whether a finished job may be reported in a batch
// when its channel is busy: not restores (their plans and buttons need a
// thread), and only jobs whose messages were never posted.
func batchable(jr *jobRelay, ev jobs.Event) bool {
	return jr.thread == "" && ev.Action != "restore"
}
