package bot_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/bottest"
	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/policy"
)

// cutter is a Redis hook that, at the at-th command it sees, ends the
// command's caller: before the command is sent ("before"), after Redis ran
// it but before the answer is read ("after": the answer is lost), or by
// holding the command back until after the caller gave up and then sending
// it anyway ("late": a command still in flight when the request ended).
// Each time it also cancels the request context, as a client hanging up.
// "after-twice" loses the answers of the at-th and the next command (the
// enqueue and the step that settles it).
type cutter struct {
	mu     sync.Mutex
	n, at  int
	mode   string
	cancel context.CancelFunc
	hit    bool
}

func (c *cutter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *cutter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (c *cutter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.mu.Lock()
		c.n++
		hit := (c.n == c.at || (c.mode == "after-twice" && c.n == c.at+1)) && c.cancel != nil
		cancel := c.cancel
		if hit {
			c.hit = true
		}
		c.mu.Unlock()
		if !hit {
			return next(ctx, cmd)
		}
		switch c.mode {
		case "before":
			cancel()
			return fmt.Errorf("cut before %s: %w", cmd.Name(), context.Canceled)
		case "after", "after-twice":
			err := next(ctx, cmd)
			cancel()
			if err != nil {
				return err
			}
			return fmt.Errorf("answer to %s lost: %w", cmd.Name(), context.Canceled)
		default: // late
			cancel()
			time.Sleep(400 * time.Millisecond) // until the request has given up and settled
			return next(context.WithoutCancel(ctx), cmd)
		}
	}
}

// cutClients are two clients of the test Redis: plain, and hooked, whose
// calls cut cuts.
func cutClients(t *testing.T) (plain, hooked *redis.Client, cut *cutter) {
	plain = redisClient(t)
	opt := *plain.Options()
	hooked = redis.NewClient(&opt)
	t.Cleanup(func() { hooked.Close() })
	cut = &cutter{}
	hooked.AddHook(cut)
	return plain, hooked, cut
}

func (c *cutter) arm(at int, mode string, cancel context.CancelFunc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n, c.at, c.mode, c.cancel, c.hit = 0, at, mode, cancel, false
}

func (c *cutter) fired() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hit
}

// TestEnqueueCancelledAtEveryStep ends the request's context at every Redis
// call of a command's enqueue, in three ways (before the call is sent,
// after Redis ran it with the answer lost, and with the call held back
// until after the request gave up), against the real router, Redis and a
// worker. In every case the user is told "queued" and the job runs exactly
// once, or is told nothing was started and no job ever runs.
func TestEnqueueCancelledAtEveryStep(t *testing.T) {
	plain, hooked, cut := cutClients(t)

	data := writeData(t, t.TempDir(), map[string]string{"a.txt": "a small file\n"})
	// The worker on the plain client, the router (and its enqueues) on the
	// hooked one.
	router := bottest.New(t, plain, bottest.Options{Platform: "slack", Data: data, Front: hooked}).Router

	queued := regexp.MustCompile("^✅ Queued as job `([0-9a-f]{8})`")
	seq := 0
	cases := 0
	for _, mode := range []string{"before", "after", "after-twice", "late"} {
		for at := 1; ; at++ {
			seq++
			rctx, cancel := context.WithCancel(context.Background())
			cut.arm(at, mode, cancel)
			jobsBefore := jobRecords(t, plain)
			start := time.Now()
			reply := router.HandleCommand(rctx, bot.Incoming{
				From:      bot.Identity{Platform: bot.Slack, UserID: "U0ALICE", UserName: "alice"},
				Channel:   "C0BACKUPS",
				Text:      "create --target data --storage local",
				RequestID: fmt.Sprintf("cut-%d", seq),
			})
			took := time.Since(start)
			cancel()
			fired := cut.fired()
			name := fmt.Sprintf("%s call %d", mode, at)
			if !fired {
				name = "uncut"
			} else {
				cases++
			}
			if took > 2500*time.Millisecond {
				t.Errorf("%s: answered after %v, past the acknowledgement time", name, took)
			}
			text := reply.Message.Text
			if m := queued.FindStringSubmatch(text); m != nil {
				id := m[1]
				waitStarted(t, plain, id, name)
				time.Sleep(300 * time.Millisecond)
				if n := bottest.Started(t, plain)[id]; n != 1 {
					t.Errorf("%s: told queued as %s, which started %d times, want once", name, id, n)
				}
				t.Logf("%s: told queued (job %s), ran once", name, id)
				if !fired {
					break // the enqueue made fewer Redis calls than at: every step done
				}
				continue
			}
			if !fired {
				t.Fatalf("an enqueue nothing interfered with was answered %q", text)
			}
			if !strings.Contains(text, "nothing was started") {
				t.Errorf("%s: reply %q, want either queued or nothing started", name, text)
				continue
			}
			if mode == "late" {
				time.Sleep(600 * time.Millisecond) // let the held-back call reach Redis
			}
			time.Sleep(300 * time.Millisecond)
			after, pending := jobRecords(t, plain), pendingTasks(t, plain)
			if after != jobsBefore || pending != 0 {
				t.Errorf("%s: told nothing was started, but the job records went from %d to %d and %d tasks are on the queue",
					name, jobsBefore, after, pending)
				continue
			}
			t.Logf("%s: told not started, nothing queued", name)
		}
	}
	if cases < 8 {
		t.Errorf("only %d cut points exercised, want the ping, the enqueue and the settle step in each mode", cases)
	}
	// Every job that was ever told queued ran exactly once; none ran that
	// was not.
	total := 0
	for id, n := range bottest.Started(t, plain) {
		total++
		if n != 1 {
			t.Errorf("job %s started %d times", id, n)
		}
	}
	if total != jobRecords(t, plain) {
		t.Errorf("%d jobs started, %d job records", total, jobRecords(t, plain))
	}
}

func jobRecords(t *testing.T, rdb *redis.Client) int {
	t.Helper()
	keys, err := rdb.Keys(context.Background(), "backupbot:job:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, k := range keys {
		if !strings.HasSuffix(k, ":cancel") {
			n++
		}
	}
	return n
}

func pendingTasks(t *testing.T, rdb *redis.Client) int64 {
	t.Helper()
	n, err := rdb.LLen(context.Background(), "asynq:{default}:pending").Result()
	if err != nil {
		t.Fatal(err)
	}
	m, err := rdb.LLen(context.Background(), "asynq:{default}:active").Result()
	if err != nil {
		t.Fatal(err)
	}
	return n + m
}

func waitStarted(t *testing.T, rdb *redis.Client, id, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for bottest.Started(t, rdb)[id] == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s: told queued as %s, which never started", name, id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCommandsBeyondTheCapAreRefusedAtOnce: with one command in flight
// (its Redis call held back) and a cap of one, the next command is told at
// once that nothing was started, and nothing is queued for it.
func TestCommandsBeyondTheCapAreRefusedAtOnce(t *testing.T) {
	plain, hooked, cut := cutClients(t)
	pol, err := policy.New(policy.Config{Bindings: map[string][]string{"operator": {"slack:*"}}})
	if err != nil {
		t.Fatal(err)
	}
	router := bot.NewRouter(bot.RouterOptions{
		Parser: commands.Parser{Targets: []string{"data"}}, Jobs: newJobClient(t, hooked, silent()), Redis: plain,
		Policy: policy.NewHolder(pol), MaxInFlight: 1, Logger: silent(),
	})
	in := func(id string) bot.Incoming {
		return bot.Incoming{From: bot.Identity{Platform: bot.Slack, UserID: "U0ALICE"}, Channel: "C1", Text: "create --target data", RequestID: id}
	}
	// The first command's first Redis call is held back 400 ms ("late").
	_, never := context.WithCancel(context.Background())
	cut.arm(1, "late", never)
	first := make(chan bot.Reply, 1)
	go func() { first <- router.HandleCommand(context.Background(), in("first")) }()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	second := router.HandleCommand(context.Background(), in("second"))
	if took := time.Since(start); took > 100*time.Millisecond || !strings.Contains(second.Message.Text, "nothing was started") {
		t.Errorf("second command answered after %v: %q, want an immediate 'nothing was started'", took, second.Message.Text)
	}
	<-first
	if n := jobRecords(t, plain); n > 1 {
		t.Errorf("%d job records, want at most the first command's", n)
	}
}
