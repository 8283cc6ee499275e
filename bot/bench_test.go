package bot_test

import (
	"context"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/policy"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return sorted[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkCommandToAck is issue 4's point 5: against a real Redis, chat
// commands arrive at a fixed rate (default 200 per second for 30 seconds;
// BACKUPBOT_BENCH_RATE and BACKUPBOT_BENCH_SECONDS change it) and each is
// handled by the router as an adapter would call it. It reports the time
// from a received command to its ack (median and p99), and from the
// command to its job's handler starting on a worker that was idle.
// `make bench` runs it once (-benchtime 1x); the load does not scale with b.N.
func BenchmarkCommandToAck(b *testing.B) {
	rate := envInt("BACKUPBOT_BENCH_RATE", 200)
	seconds := envInt("BACKUPBOT_BENCH_SECONDS", 30)
	rdb := redisClient(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	quiet := silent()
	var mu sync.Mutex
	received := map[string]time.Time{} // job id -> command received
	started := map[string]time.Time{}  // job id -> handler started
	noop := jobs.HandlerFunc(func(_ context.Context, j *jobs.Job) (*jobs.Result, error) {
		now := time.Now()
		mu.Lock()
		started[j.Meta.JobID] = now
		mu.Unlock()
		return &jobs.Result{Summary: "ok"}, nil
	})
	d := workerDeps(&config.File{}, nil)
	d.Logger = quiet
	w := jobs.NewWorker(nil, rdb, d, jobs.WorkerOptions{Concurrency: 8, Handlers: map[commands.Action]jobs.Handler{commands.ActionList: noop}})
	client := jobs.NewClient(nil, rdb, jobs.ClientOptions{Logger: quiet})
	defer client.Close()
	router := bot.NewRouter(bot.RouterOptions{
		Parser: commands.Parser{}, Jobs: client, Redis: rdb, Policy: policy.NewHolder(nil), Logger: quiet,
		Surfaces: map[bot.Platform]bot.Surface{bot.Console: nullSurface{}},
	})
	var wg sync.WaitGroup
	wg.Go(func() { _ = w.Run(ctx) })
	wg.Go(func() { _ = router.Run(ctx) })
	defer wg.Wait()
	defer cancel()
	time.Sleep(300 * time.Millisecond) // worker and relay up

	total := rate * seconds
	acks := make([]time.Duration, 0, total)
	failures := 0
	in := bot.Incoming{From: bot.Identity{Platform: bot.Console, UserID: "bench"}, Channel: "console", Text: "/backup list"}
	interval := time.Second / time.Duration(rate)
	b.ResetTimer()
	begin := time.Now()
	var sent sync.WaitGroup
	for i := range total {
		// Open loop: command i arrives at its scheduled time whether or not
		// earlier ones were answered.
		if d := time.Until(begin.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		sent.Go(func() {
			t0 := time.Now()
			reply := router.HandleCommand(ctx, in)
			ack := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			acks = append(acks, ack)
			id := jobIDOf(reply.Message.Text)
			if id == "" {
				failures++
				return
			}
			received[id] = t0
		})
	}
	sent.Wait()
	elapsed := time.Since(begin)
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(started)
		mu.Unlock()
		if n >= total-failures || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.StopTimer()

	mu.Lock()
	defer mu.Unlock()
	slices.Sort(acks)
	var toStart []time.Duration
	for id, t0 := range received {
		if t1, ok := started[id]; ok {
			toStart = append(toStart, t1.Sub(t0))
		}
	}
	slices.Sort(toStart)
	b.ReportMetric(float64(len(acks))/elapsed.Seconds(), "commands/s")
	b.ReportMetric(ms(percentile(acks, 0.5)), "ack-median-ms")
	b.ReportMetric(ms(percentile(acks, 0.99)), "ack-p99-ms")
	b.ReportMetric(ms(percentile(toStart, 0.5)), "start-median-ms")
	b.ReportMetric(ms(percentile(toStart, 0.99)), "start-p99-ms")
	b.ReportMetric(float64(failures), "failed-acks")
	b.ReportMetric(float64(total-failures-len(toStart)), "never-started")
	if failures > 0 {
		b.Errorf("%d of %d commands were not queued", failures, total)
	}
}

// jobIDOf finds the job id in a "Queued as job `8f3a1c2d`" ack.
func jobIDOf(text string) string {
	const marker = "Queued as job `"
	for i := 0; i+len(marker)+8 <= len(text); i++ {
		if text[i:i+len(marker)] == marker {
			return text[i+len(marker) : i+len(marker)+8]
		}
	}
	return ""
}
