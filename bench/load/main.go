// Command load is the load bench of `make bench` (BENCH_ONLY=load): one
// `backupbot bot` and two `backupbot worker` processes (the real binaries)
// on a real Redis, a fake Slack that allows one chat.postMessage per second
// per channel (429 with Retry-After beyond it), and this process sending
// signed slash commands at a fixed rate (half `list`, half a small
// `create`). It prints the ack latency, what was refused, what was
// accepted but did not finish, duplicates, refused commands that ran
// anyway, Redis memory per job and each process's RSS.
//
//	go run ./bench/load -bin ./bin -redis redis://127.0.0.1:6379/1 -seconds 60 -rate 200
//
// Exit status: 0 when every accepted command finished exactly once and no
// refused one ran; 1 otherwise; 2 for bad flags or a setup failure.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/bot/slack/slacktest"
)

const (
	botToken      = "xoxb-load-bench"
	signingSecret = "load-bench-signing-secret"
)

type options struct {
	bin, redisURL, work string
	seconds, rate       int
	channels, workers   int
	targets             int
	botNice, workerNice int
	concurrency         int
	drain               time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "./bin", "directory holding the backupbot and backupctl binaries")
	flag.StringVar(&o.redisURL, "redis", os.Getenv("REDIS_URL"), "Redis URL (its database is emptied)")
	flag.StringVar(&o.work, "work", "/tmp/backupbot-load", "scratch directory")
	flag.IntVar(&o.seconds, "seconds", 60, "how long the load runs")
	flag.IntVar(&o.rate, "rate", 200, "signed commands per second")
	flag.IntVar(&o.channels, "channels", 20, "Slack channels the commands come from")
	flag.IntVar(&o.workers, "workers", 2, "backupbot worker processes")
	flag.IntVar(&o.targets, "targets", 64, "small targets the creates and lists are spread over (one backup of a target runs at a time)")
	flag.IntVar(&o.concurrency, "concurrency", 4, "jobs each worker runs at once")
	flag.IntVar(&o.botNice, "bot-nice", -5, "niceness of the bot (negative needs root; otherwise it runs at 0)")
	flag.IntVar(&o.workerNice, "worker-nice", 0, "niceness of the workers")
	flag.DurationVar(&o.drain, "drain", 10*time.Minute, "how long to wait, after the load, for accepted jobs to finish")
	flag.Parse()
	if o.redisURL == "" || o.seconds <= 0 || o.rate <= 0 || o.channels <= 0 || o.targets <= 0 {
		fmt.Fprintln(os.Stderr, "load: -redis (or REDIS_URL), -seconds, -rate, -channels and -targets are required and positive")
		os.Exit(2)
	}
	code, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
	}
	os.Exit(code)
}

// sent is one command and its answer.
type sent struct {
	user    string
	action  string
	latency time.Duration
	status  int
	answer  string
	err     error
}

type proc struct {
	name string
	cmd  *exec.Cmd
	peak atomic.Int64 // highest VmRSS seen, kB
}

func run(o options) (int, error) {
	ctx := context.Background()
	if err := os.RemoveAll(o.work); err != nil {
		return 2, err
	}
	// Many small targets, each a directory of its own: one backup of a
	// target runs at a time, so the creates spread over them as a real
	// installation's do.
	var targets strings.Builder
	for t := range o.targets {
		dir := filepath.Join(o.work, "data", targetName(t))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return 2, err
		}
		for i := range 3 {
			body := strings.Repeat(fmt.Sprintf("backup me (target %d)\n", t), 100*(i+1))
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file-%d.txt", i)), []byte(body), 0o644); err != nil {
				return 2, err
			}
		}
		fmt.Fprintf(&targets, "  %s: {paths: [%s]}\n", targetName(t), dir)
	}
	cfg := filepath.Join(o.work, "backupbot.yaml")
	yaml := fmt.Sprintf(`storages:
  local: {type: local, path: %s}
targets:
%spolicy:
  roles:
    operator:
      - actions: [create, list, status, help, cancel]
  bindings:
    operator: ["slack:*"]
`, filepath.Join(o.work, "repo"), targets.String())
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		return 2, err
	}
	ropt, err := redis.ParseURL(o.redisURL)
	if err != nil {
		return 2, fmt.Errorf("-redis: %w", err)
	}
	rdb := redis.NewClient(ropt)
	defer rdb.Close()
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		return 2, fmt.Errorf("empty Redis database %d: %w", ropt.DB, err)
	}
	env := append(os.Environ(), "REDIS_URL="+o.redisURL, "BACKUPBOT_REPO_PASSWORD=load-bench-password")

	// The repository exists before the load (its first backup creates it).
	init := exec.Command(filepath.Join(o.bin, "backupctl"), "--config", cfg, "create", "--target", "all")
	init.Env = env
	if out, err := init.CombinedOutput(); err != nil {
		return 2, fmt.Errorf("backupctl create (setting up the repository): %w\n%s", err, out)
	}

	fake := slacktest.New(slacktest.Options{BotToken: botToken, ChannelPostInterval: time.Second})
	defer fake.Close()
	addr, err := freeAddr()
	if err != nil {
		return 2, err
	}
	botEnv := append(slices.Clone(env), "SLACK_BOT_TOKEN="+botToken, "SLACK_SIGNING_SECRET="+signingSecret, "SLACK_API_URL="+fake.APIURL())
	var procs []*proc
	start := func(name string, env []string, args ...string) error {
		logf, err := os.Create(filepath.Join(o.work, name+".log"))
		if err != nil {
			return err
		}
		// Workers are batch work: the bot's acks come first, as they would
		// on machines of their own. The gap is made by raising the bot
		// (when allowed) rather than lowering the workers, so that on a
		// shared machine the workers are not starved by its other load.
		prio := o.botNice
		if strings.HasPrefix(name, "worker") {
			prio = o.workerNice
		}
		c := exec.Command("nice", append([]string{"-n", strconv.Itoa(prio), filepath.Join(o.bin, "backupbot")}, args...)...)
		c.Env, c.Stdout, c.Stderr = env, logf, logf
		if err := c.Start(); err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		procs = append(procs, &proc{name: name, cmd: c})
		return nil
	}
	defer func() {
		for _, p := range procs {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
		for _, p := range procs {
			done := make(chan struct{})
			go func() { _ = p.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				_ = p.cmd.Process.Kill()
			}
		}
	}()
	if err := start("bot", botEnv, "bot", "--config", cfg, "--http-addr", addr, "--log-level", "warn"); err != nil {
		return 2, err
	}
	for i := range o.workers {
		if err := start(fmt.Sprintf("worker-%d", i+1), env, "worker", "--config", cfg, "--concurrency", strconv.Itoa(o.concurrency), "--log-level", "warn"); err != nil {
			return 2, err
		}
	}
	if err := waitHealthy(addr, 30*time.Second); err != nil {
		return 2, err
	}
	time.Sleep(time.Second) // the workers connect
	memBefore := usedMemory(ctx, rdb)

	stopRSS := make(chan struct{})
	var rssWG sync.WaitGroup
	rssWG.Go(func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			for _, p := range procs {
				if kb := rssKB(p.cmd.Process.Pid, "VmRSS"); kb > p.peak.Load() {
					p.peak.Store(kb)
				}
			}
			select {
			case <-stopRSS:
				return
			case <-t.C:
			}
		}
	})

	fmt.Printf("load: %d signed commands/s for %d s from %d channels (half list, half create, over %d targets), 1 bot + %d workers (concurrency %d)\n",
		o.rate, o.seconds, o.channels, o.targets, o.workers, o.concurrency)
	loadAvgStart := loadAvg()
	loadStart := time.Now()
	results := load(o, addr)
	loadEnd := time.Now()

	queued := regexp.MustCompile("Queued as job `([0-9a-f]{8})`")
	accepted := map[string]string{} // user -> job id
	var refused, deferred, transport []sent
	var lat []time.Duration
	for _, r := range results {
		if r.err != nil || r.status != http.StatusOK {
			transport = append(transport, r)
			continue
		}
		lat = append(lat, r.latency)
		switch m := queued.FindStringSubmatch(r.answer); {
		case m != nil:
			accepted[r.user] = m[1]
		case strings.Contains(r.answer, "answer follows"):
			deferred = append(deferred, r)
		default:
			refused = append(refused, r)
		}
	}
	// A deferred answer arrives as an ephemeral message: settle those.
	time.Sleep(3 * time.Second)
	late := map[string]string{}
	for _, c := range fake.Calls("chat.postEphemeral") {
		late[c.Form.Get("user")] = c.Form.Get("text")
	}
	for _, r := range deferred {
		if m := queued.FindStringSubmatch(late[r.user]); m != nil {
			accepted[r.user] = m[1]
		} else {
			r.answer = late[r.user]
			refused = append(refused, r)
		}
	}

	// Drain: wait until every accepted job has a final state (polling
	// only the jobs still open, so that the polling costs little).
	drainStart := time.Now()
	open := make([]string, 0, len(accepted))
	for _, id := range accepted {
		open = append(open, id)
	}
	backlog := -1 // accepted jobs not finished when the load stopped
	for {
		if open, err = stillOpen(ctx, rdb, open); err != nil {
			return 2, err
		}
		if backlog < 0 {
			backlog = len(open)
		}
		if len(open) == 0 || time.Since(drainStart) > o.drain {
			break
		}
		time.Sleep(time.Second)
	}
	drainEnd := time.Now()
	drained := drainEnd.Sub(drainStart)
	records, err := jobRecords(ctx, rdb)
	if err != nil {
		return 2, err
	}
	close(stopRSS)
	rssWG.Wait()
	memAfter := usedMemory(ctx, rdb)

	// Tally.
	notFinished, duplicates, refusedRan, failed := 0, 0, 0, 0
	failures := map[string]int{}
	lost := 0
	for user, id := range accepted {
		recs := records[user]
		if !finished(recs, id) {
			notFinished++
			// Still waiting its turn, or lost (a record with no task)?
			if n, _ := rdb.Exists(ctx, "asynq:{default}:t:"+id, "asynq:{critical}:t:"+id).Result(); n == 0 {
				// Finished between the two reads, or lost?
				if st, _ := rdb.HGet(ctx, "backupbot:job:"+id, "state").Result(); st == "succeeded" || st == "failed" || st == "canceled" {
					notFinished--
				} else {
					lost++
				}
			}
		}
		if len(recs) > 1 {
			duplicates += len(recs) - 1
		}
		for _, r := range recs {
			if r.attempt > 1 {
				duplicates++
			}
			if r.state == "failed" {
				failed++
				failures[firstLine(r.err)]++
			}
		}
	}
	noAnswerRan := 0
	for _, r := range refused {
		if len(records[r.user]) > 0 {
			refusedRan++
		}
	}
	for _, r := range transport {
		if len(records[r.user]) > 0 {
			noAnswerRan++
		}
	}
	jobs := 0
	for _, recs := range records {
		jobs += len(recs)
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	posts, limited, batches := 0, 0, 0
	for _, c := range fake.Calls("chat.postMessage") {
		switch {
		case c.Status == http.StatusTooManyRequests:
			limited++
		case c.Status == http.StatusOK:
			posts++
			if strings.HasPrefix(c.Form.Get("text"), "📦") {
				batches++
			}
		}
	}

	fmt.Printf("commands sent              %d in %.1f s\n", len(results), loadEnd.Sub(loadStart).Seconds())
	fmt.Printf("ack latency                p50 %v  p90 %v  p99 %v  max %v   (target p99 < 1s)\n",
		pct(0.50).Round(time.Millisecond), pct(0.90).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), pct(1).Round(time.Millisecond))
	fmt.Printf("accepted                   %d (%d of them answered late, after a ⏳ ack)\n", len(accepted), len(deferred)-countRefusedDeferred(deferred, accepted))
	fmt.Printf("refused                    %d told not started, %d with no HTTP answer\n", len(refused), len(transport))
	for _, r := range refused[:min(3, len(refused))] {
		fmt.Printf("                           e.g. %q\n", firstLine(r.answer))
	}
	for _, r := range transport[:min(3, len(transport))] {
		fmt.Printf("                           e.g. status %d %v\n", r.status, r.err)
	}
	fmt.Printf("backlog                    %d accepted jobs not finished when the load stopped; cleared in %v (drain limit %v)\n",
		backlog, drained.Round(time.Second), o.drain)
	if done := len(accepted) - notFinished; done > 0 {
		fmt.Printf("throughput                 %d jobs finished in %.1f s from the first command: %.1f jobs/s\n",
			done, drainEnd.Sub(loadStart).Seconds(), float64(done)/drainEnd.Sub(loadStart).Seconds())
	}
	fmt.Printf("accepted, not finished     %d after draining %v: %d still on the queue (the workers' backlog), %d lost (no task)\n",
		notFinished, drained.Round(time.Second), notFinished-lost, lost)
	fmt.Printf("finished failed            %d\n", failed)
	for why, n := range failures {
		fmt.Printf("                           %d× %s\n", n, why)
	}
	fmt.Printf("duplicates                 %d  (extra jobs or extra attempts for one command)\n", duplicates)
	fmt.Printf("refused that ran           %d  (told not started, yet a job exists)\n", refusedRan)
	fmt.Printf("no answer, job exists      %d  (the HTTP request failed; the job runs, status tells)\n", noAnswerRan)
	if jobs > 0 {
		fmt.Printf("Redis memory               %.1f MiB before, %.1f MiB after %d jobs: %.0f bytes per job\n",
			float64(memBefore)/(1<<20), float64(memAfter)/(1<<20), jobs, float64(memAfter-memBefore)/float64(jobs))
	}
	fmt.Printf("chat posts                 %d chat.postMessage accepted (%d of them batches), %d answered 429\n", posts, batches, limited)
	fmt.Printf("machine                    %d CPUs; load average %s at the start, %s at the end; bot at nice %d, workers at nice %d\n",
		runtime.NumCPU(), loadAvgStart, loadAvg(), o.botNice, o.workerNice)
	for _, p := range procs {
		fmt.Printf("RSS %-22s peak %6.1f MiB (sampled), high-water %6.1f MiB\n", p.name, float64(p.peak.Load())/1024, float64(rssKB(p.cmd.Process.Pid, "VmHWM"))/1024)
	}
	if notFinished > 0 || duplicates > 0 || refusedRan > 0 || len(transport) > 0 {
		return 1, errors.New("some accepted commands did not finish exactly once, a refused one ran, or requests got no answer")
	}
	return 0, nil
}

func countRefusedDeferred(deferred []sent, accepted map[string]string) int {
	n := 0
	for _, r := range deferred {
		if _, ok := accepted[r.user]; !ok {
			n++
		}
	}
	return n
}

// load sends o.rate signed commands per second for o.seconds, each from its
// own user (so its job can be found again), spread over o.channels channels
// and over several loopback source addresses, as Slack's requests come
// from many.
func load(o options, addr string) []sent {
	var next atomic.Int64
	dialer := func(ctx context.Context, network, address string) (net.Conn, error) {
		src := fmt.Sprintf("127.0.0.%d", 10+next.Add(1)%16)
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
		return d.DialContext(ctx, network, address)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: dialer, MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: 20 * time.Second,
	}}
	total := o.rate * o.seconds
	out := make([]sent, total)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range total {
		if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(o.rate))); d > 0 {
			time.Sleep(d)
		}
		wg.Go(func() {
			user := fmt.Sprintf("U%07d", i)
			target := targetName(i / 2 % o.targets)
			text, action := "list --storage local --target "+target, "list"
			if i%2 == 1 {
				text, action = "create --target "+target, "create"
			}
			cmd := slacktest.SlashCommand{ChannelID: fmt.Sprintf("C%04d", i%o.channels), ChannelName: fmt.Sprintf("load-%d", i%o.channels),
				UserID: user, UserName: "load" + strconv.Itoa(i), Text: text}
			req := slacktest.SignedRequest("http://"+addr+"/slack/commands", signingSecret, time.Now(), cmd.Form())
			t0 := time.Now()
			resp, err := client.Do(req)
			s := sent{user: user, action: action, err: err}
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				s.status = resp.StatusCode
				var a struct {
					Text string `json:"text"`
				}
				_ = json.Unmarshal(body, &a)
				s.answer = a.Text
			}
			s.latency = time.Since(t0)
			out[i] = s
		})
	}
	wg.Wait()
	return out
}

// targetName names the bench's t-th target.
func targetName(t int) string { return fmt.Sprintf("t%03d", t) }

// loadAvg is the 1-minute load average (/proc/loadavg).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// stillOpen returns the jobs of ids whose record does not say they ended.
func stillOpen(ctx context.Context, rdb *redis.Client, ids []string) ([]string, error) {
	var out []string
	for chunk := range slices.Chunk(ids, 1000) {
		pipe := rdb.Pipeline()
		cmds := make([]*redis.StringCmd, len(chunk))
		for i, id := range chunk {
			cmds[i] = pipe.HGet(ctx, "backupbot:job:"+id, "state")
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("read job states: %w", err)
		}
		for i, c := range cmds {
			if st := c.Val(); st != "succeeded" && st != "failed" && st != "canceled" {
				out = append(out, chunk[i])
			}
		}
	}
	return out, nil
}

// record is what a job record in Redis says.
type record struct {
	id, state, err string
	attempt        int
}

// jobRecords reads every job record, by requester (one user per command).
func jobRecords(ctx context.Context, rdb *redis.Client) (map[string][]record, error) {
	out := map[string][]record{}
	iter := rdb.Scan(ctx, 0, "backupbot:job:*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		if k := iter.Val(); strings.Count(k, ":") == 2 {
			keys = append(keys, k)
		}
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("scan job records: %w", err)
	}
	for chunk := range slices.Chunk(keys, 500) {
		pipe := rdb.Pipeline()
		cmds := make([]*redis.SliceCmd, len(chunk))
		for i, k := range chunk {
			cmds[i] = pipe.HMGet(ctx, k, "meta", "state", "attempt", "error")
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("read job records: %w", err)
		}
		for i, c := range cmds {
			v := c.Val()
			if len(v) < 4 || v[0] == nil {
				continue
			}
			var meta struct {
				Requester struct {
					UserID string `json:"user_id"`
				} `json:"requester"`
			}
			_ = json.Unmarshal([]byte(str(v[0])), &meta)
			n, _ := strconv.Atoi(str(v[2]))
			out[meta.Requester.UserID] = append(out[meta.Requester.UserID],
				record{id: strings.TrimPrefix(chunk[i], "backupbot:job:"), state: str(v[1]), attempt: n, err: str(v[3])})
		}
	}
	return out, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func finished(recs []record, id string) bool {
	for _, r := range recs {
		if r.id == id {
			return r.state == "succeeded" || r.state == "failed" || r.state == "canceled"
		}
	}
	return false
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

func usedMemory(ctx context.Context, rdb *redis.Client) int64 {
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// rssKB reads one memory line (VmRSS, VmHWM) of /proc/PID/status, in kB.
func rssKB(pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitHealthy(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the bot did not answer /healthz on %s within %v (see its log)", addr, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
