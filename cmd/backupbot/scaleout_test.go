package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/internal/randid"
	"github.com/backupbot/backupbot/jobs"
)

// scaleoutSize is how many backup jobs the multi-host run queues (20
// targets): a small run in `make test`, 200 in `make bench`
// (BENCH_ONLY=scaleout sets BACKUPBOT_SCALEOUT_JOBS=200 and
// BACKUPBOT_SCALEOUT_BENCH=1, which also asserts the throughput growth).
func scaleoutSize() (jobsN, throughputN int, bench bool) {
	jobsN, throughputN = 60, 24
	if n, err := strconv.Atoi(os.Getenv("BACKUPBOT_SCALEOUT_JOBS")); err == nil && n > 0 {
		jobsN, throughputN = n, n
	}
	return jobsN, throughputN, os.Getenv("BACKUPBOT_SCALEOUT_BENCH") != ""
}

const scaleoutTargets = 20

// cluster is the multi-host deployment: Redis and S3 on "svc", the bot on
// "bot", workers on w1..w3, each host its own network namespace.
type cluster struct {
	t       *testing.T
	lab     *netLab
	e       *env
	rdb     redis.UniversalClient // over Redis's unix socket, for the test's checks
	console *consoleClient
	awsEnv  []string
	workers map[string]*proc
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	lab := newNetLab(t, "bot", "w1", "w2", "w3")
	e := &env{t: t, dir: t.TempDir()}
	t.Cleanup(e.stopAll)
	c := &cluster{t: t, lab: lab, e: e, workers: map[string]*proc{}}
	c.rdb = lab.startRedis(e)
	ak, sk := lab.startS3(e, "repo")
	c.awsEnv = []string{"AWS_ACCESS_KEY_ID=" + ak, "AWS_SECRET_ACCESS_KEY=" + sk, "AWS_REGION=us-east-1",
		"SLACK_BOT_TOKEN=", "DISCORD_BOT_TOKEN=", "BACKUPBOT_REPO_PASSWORD=" + repoPassword, "BACKUPBOT_REPO_PASSWORD_FILE="}

	// 20 targets of small trees: a few directories of small files each.
	for i := range scaleoutTargets {
		for d := range 3 {
			dir := filepath.Join(e.dir, "data", fmt.Sprintf("t%02d", i), fmt.Sprintf("dir%d", d))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for f := range 5 {
				writeFile(t, filepath.Join(dir, fmt.Sprintf("f%d.txt", f)),
					[]byte(strings.Repeat(fmt.Sprintf("target %d dir %d file %d\n", i, d, f), 40+i)))
			}
		}
	}
	for _, h := range []string{"bot", "w1", "w2", "w3"} {
		c.writeConfig(h)
	}
	sock := filepath.Join(e.dir, "console.sock")
	c.start("bot", "bot", "--console", "--no-stdin", "--console-socket", sock)
	c.console = dialConsole(t, sock)
	return c
}

// writeConfig writes host's configuration: the repository on the S3
// server as reached over that host's own link.
func (c *cluster) writeConfig(host string) {
	var b strings.Builder
	// The S3 server across a 20 ms round trip (the delay proxy on 7071):
	// s3 for the main run, tp1..tp3 one repository per throughput phase so
	// that each phase starts from an empty repository.
	b.WriteString("storages:\n")
	for _, st := range []string{"s3", "tp1", "tp2", "tp3"} {
		fmt.Fprintf(&b, "  %s: {type: s3, bucket: repo, region: us-east-1, prefix: %s, endpoint: \"http://%s:7071\", path_style: true}\n", st, st, c.lab.svcAddr(host))
	}
	b.WriteString("targets:\n")
	for i := range scaleoutTargets {
		fmt.Fprintf(&b, "  t%02d: {paths: [%s]}\n", i, filepath.Join(c.e.dir, "data", fmt.Sprintf("t%02d", i)))
	}
	b.WriteString("console:\n  user: alice\npolicy:\n  audit: {file: \"-\"}\n")
	writeFile(c.t, c.configPath(host), []byte(b.String()))
}

func (c *cluster) configPath(host string) string { return filepath.Join(c.e.dir, host+".yaml") }

// start runs `backupbot ROLE ARGS...` on host.
func (c *cluster) start(host, role string, args ...string) *proc {
	c.t.Helper()
	full := append([]string{role, "--config", c.configPath(host)}, args...)
	env := append([]string{fmt.Sprintf("REDIS_URL=redis://%s:6379/0", c.lab.svcAddr(host))}, c.awsEnv...)
	return c.e.startCmd(host, c.lab.command(host, binPath, full...), env)
}

func (c *cluster) startWorker(host string) *proc {
	p := c.start(host, "worker", "--concurrency", "2")
	c.workers[host] = p
	return p
}

// backupctl runs backupctl on host against the shared repository.
func (c *cluster) backupctl(host string, args ...string) (string, error) {
	full := append([]string{"--config", c.configPath(host)}, args...)
	cmd := c.lab.command(host, backupctlPath(c.t), full...)
	cmd.Env = append(os.Environ(), c.awsEnv...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// enqueue sends n backup commands over the console, round-robin over the
// targets starting at from, and returns the job ids in order.
func (c *cluster) enqueue(n, from int) []string { return c.enqueueTo("s3", n, from) }

func (c *cluster) enqueueTo(storage string, n, from int) []string {
	ids := make([]string, 0, n)
	for i := range n {
		ids = append(ids, c.console.command(fmt.Sprintf("/backup create --target t%02d --storage %s", (from+i)%scaleoutTargets, storage)))
	}
	return ids
}

// events reads the job event stream from Redis.
func (c *cluster) events() []jobs.Event {
	c.t.Helper()
	msgs, err := c.rdb.XRange(context.Background(), "backupbot:events", "-", "+").Result()
	if err != nil {
		c.t.Fatalf("reading the event stream: %v", err)
	}
	out := make([]jobs.Event, 0, len(msgs))
	for _, m := range msgs {
		s, _ := m.Values["event"].(string)
		var ev jobs.Event
		if err := json.Unmarshal([]byte(s), &ev); err == nil {
			out = append(out, ev)
		}
	}
	return out
}

// waitFinal waits until every job in ids has a final event.
func (c *cluster) waitFinal(ids []string, timeout time.Duration) {
	c.t.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	deadline := time.Now().Add(timeout)
	for {
		done := 0
		for _, ev := range c.events() {
			if want[ev.Meta.JobID] && ev.Kind.Final() {
				done++
			}
		}
		if done >= len(ids) {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%d of %d jobs finished within %s", done, len(ids), timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// doneCount is how many of ids have finished.
func (c *cluster) doneCount(ids []string) int {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	n := 0
	for _, ev := range c.events() {
		if want[ev.Meta.JobID] && ev.Kind.Final() {
			n++
		}
	}
	return n
}

// activeOn returns the ids of the jobs the worker process p is running now
// (asynq's record of connected workers, by pid).
func (c *cluster) activeOn(p *proc) []string {
	insp := asynq.NewInspectorFromRedisClient(c.rdb)
	servers, err := insp.Servers()
	if err != nil {
		return nil
	}
	var ids []string
	for _, s := range servers {
		if s.PID != p.cmd.Process.Pid {
			continue
		}
		for _, w := range s.ActiveWorkers {
			ids = append(ids, w.TaskID)
		}
	}
	return ids
}

var targetRe = regexp.MustCompile(`--target (t\d\d)`)

// span is one attempt of a job, from its started event to its end.
type span struct {
	job, target string
	attempt     int
	start, end  time.Time
	crashed     bool // ended by its worker's death, not by itself
}

// spans rebuilds every attempt of every job from the event stream: an
// attempt ends at its own succeeded/failed/canceled/handed-back event, or,
// when its worker died, at killedAt (or the next attempt's start, if
// earlier). Any overlap of two spans of one target is two backups of the
// target running at once.
func spans(evs []jobs.Event, killedAt time.Time) []span {
	open := map[string]*span{}
	var out []span
	for _, ev := range evs {
		id := ev.Meta.JobID
		m := targetRe.FindStringSubmatch(ev.Meta.Text)
		if m == nil {
			continue
		}
		s := open[id]
		switch {
		case ev.Kind == jobs.EventStarted:
			if s != nil { // a new attempt with no end of the last: its worker died
				s.end, s.crashed = minTime(ev.At, killedAt), true
				out = append(out, *s)
			}
			open[id] = &span{job: id, target: m[1], attempt: ev.Attempt, start: ev.At}
		case s == nil:
		case ev.Kind == jobs.EventRetrying && ev.Attempt > s.attempt:
			s.end, s.crashed = minTime(ev.At, killedAt), true
			out = append(out, *s)
			delete(open, id)
		case ev.Kind.Final() || ev.Kind == jobs.EventRetrying:
			s.end = ev.At
			out = append(out, *s)
			delete(open, id)
		}
	}
	for _, s := range open {
		out = append(out, *s) // never ended: end zero, reported by the caller
	}
	return out
}

// spanStats summarises attempts: mean duration and the most running at once.
func spanStats(sp []span) string {
	if len(sp) == 0 {
		return "no attempts"
	}
	var total time.Duration
	peak := 0
	for _, s := range sp {
		total += s.end.Sub(s.start)
		n := 0
		for _, o := range sp {
			if !o.start.After(s.start) && o.end.After(s.start) {
				n++
			}
		}
		peak = max(peak, n)
	}
	return fmt.Sprintf("%d attempts, mean %s each, at most %d at once", len(sp), (total / time.Duration(len(sp))).Round(time.Millisecond), peak)
}

func minTime(a, b time.Time) time.Time {
	if !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// checkRun asserts every job in ids ended exactly once, succeeded, and
// that no two attempts of one target overlapped.
func (c *cluster) checkRun(ids []string, killedAt time.Time) []span {
	c.t.Helper()
	evs := c.events()
	finals := map[string][]jobs.Event{}
	for _, ev := range evs {
		if ev.Kind.Final() {
			finals[ev.Meta.JobID] = append(finals[ev.Meta.JobID], ev)
		}
	}
	for _, id := range ids {
		f := finals[id]
		switch {
		case len(f) != 1:
			c.t.Errorf("job %s has %d final events, want exactly 1", id, len(f))
		case f[0].Kind != jobs.EventSucceeded:
			c.t.Errorf("job %s ended %s: %s", id, f[0].Kind, f[0].Error)
		}
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	all := spans(evs, killedAt)
	var sp []span
	for _, s := range all {
		if want[s.job] {
			sp = append(sp, s)
		}
	}
	sort.Slice(sp, func(i, j int) bool { return sp[i].start.Before(sp[j].start) })
	byTarget := map[string][]span{}
	for _, s := range sp {
		if s.end.IsZero() {
			c.t.Errorf("job %s attempt %d started %s and never ended", s.job, s.attempt, s.start.Format(time.StampMilli))
			continue
		}
		for _, o := range byTarget[s.target] {
			if s.start.Before(o.end) {
				c.t.Errorf("target %s: job %s (attempt %d, %s-%s) overlapped job %s (attempt %d, %s-%s)", s.target,
					s.job, s.attempt, s.start.Format(time.StampMilli), s.end.Format(time.StampMilli),
					o.job, o.attempt, o.start.Format(time.StampMilli), o.end.Format(time.StampMilli))
			}
		}
		byTarget[s.target] = append(byTarget[s.target], s)
	}
	return sp
}

// snapshotsPerTarget lists the repository (from host) and counts snapshots.
func (c *cluster) snapshotsPerTarget(host string) map[string]int {
	c.t.Helper()
	out, err := c.backupctl(host, "--json", "list", "--storage", "s3")
	if err != nil {
		c.t.Fatalf("backupctl list on %s: %v\n%s", host, err, out)
	}
	// --json prints the job's result; the backups are its data.
	var res struct {
		Data []struct {
			Target string `json:"target"`
		} `json:"data"`
	}
	if i := strings.Index(out, "{"); i < 0 || json.NewDecoder(strings.NewReader(out[i:])).Decode(&res) != nil {
		c.t.Fatalf("backupctl --json list printed no result:\n%s", out)
	}
	n := map[string]int{}
	for _, s := range res.Data {
		n[s.Target]++
	}
	return n
}

// TestMultiHost is issue 16's points 2 and 4: Redis and S3, one bot and
// three workers, each host its own network namespace. Jobs queued with no
// worker wait (and status says so); then 1, 2 and 3 workers are timed;
// then the main run: one worker host is killed mid-run and its jobs finish
// elsewhere, then every worker is restarted one after the other while
// jobs run. Every job completes exactly once, no two backups of a target
// overlap, and the repository verifies clean.
func TestMultiHost(t *testing.T) {
	jobsN, throughputN, bench := scaleoutSize()
	c := newCluster(t)

	// Zero workers: the bot still answers, jobs wait, status says so.
	waiting := c.enqueue(2, 0)
	c.console.send("/backup status " + waiting[0])
	c.console.expect(regexp.MustCompile("^\\[reply\\] Job `"+waiting[0]+"` · .* · queued$"), 10*time.Second)
	c.console.expect(regexp.MustCompile(`Workers.*none connected: the job waits in the queue until a worker starts`), 10*time.Second)
	time.Sleep(time.Second)
	if n := c.doneCount(waiting); n != 0 {
		t.Fatalf("%d jobs finished with no worker running", n)
	}

	// Throughput with 1, 2 and 3 workers (each worker runs 2 jobs at once).
	rates := map[int]float64{}
	hosts := []string{"w1", "w2", "w3"}
	for n := 1; n <= 3; n++ {
		// Queue the phase's jobs with no worker running, then time the
		// workers alone: from their start to the last job's end.
		ids := c.enqueueTo(fmt.Sprintf("tp%d", n), throughputN, 0)
		start := time.Now()
		for _, h := range hosts[:n] {
			c.startWorker(h)
		}
		if n == 1 {
			c.waitFinal(waiting, 60*time.Second) // the jobs queued with no worker run now
		}
		c.waitFinal(ids, time.Duration(throughputN)*5*time.Second+60*time.Second)
		el := time.Since(start)
		rates[n] = float64(throughputN) / el.Seconds()
		sp := c.checkRun(ids, time.Time{})
		t.Logf("throughput: %d worker(s): %d backups in %s = %.2f jobs/s (%s)", n, throughputN, el.Round(time.Millisecond), rates[n], spanStats(sp))
		for _, h := range hosts[:n] {
			c.workers[h].stop()
		}
	}
	t.Logf("throughput figures: 1 worker %.2f jobs/s, 2 workers %.2f jobs/s (x%.2f), 3 workers %.2f jobs/s (x%.2f)",
		rates[1], rates[2], rates[2]/rates[1], rates[3], rates[3]/rates[1])
	if bench && !(rates[3] > 1.3*rates[1] && rates[2] > 1.1*rates[1]) {
		t.Errorf("throughput does not grow with workers: 1: %.2f, 2: %.2f, 3: %.2f jobs/s", rates[1], rates[2], rates[3])
	}
	if t.Failed() {
		return
	}

	// The main run.
	for _, h := range hosts {
		c.startWorker(h)
	}
	first := c.enqueue(jobsN/2, 0)
	// Kill worker host w3 (every process on it, as a power cut would) while
	// the queue still holds more jobs than the workers have slots, so it is
	// running jobs: they must finish elsewhere.
	eventually(t, 120*time.Second, "a quarter of the first half done", func() bool { return c.doneCount(first) >= len(first)/4 })
	if pending := len(first) - c.doneCount(first); pending <= 6 {
		t.Fatalf("only %d jobs left when w3 is killed: make the run bigger", pending)
	}
	killedAt := time.Now()
	killed := c.lab.killHost("w3")
	t.Logf("killed %d process(es) on host w3 with %d jobs still to do", killed, len(first)-c.doneCount(first))
	<-c.workers["w3"].done

	// A rolling restart of every worker while the second half runs.
	second := c.enqueue(jobsN-jobsN/2, jobsN/2)
	c.startWorker("w3") // the host is back
	for _, h := range hosts {
		time.Sleep(time.Second)
		old := c.workers[h]
		old.stop() // SIGTERM: running jobs go back to the queue at a safe point
		c.startWorker(h)
	}
	all := append(append([]string{}, first...), second...)
	c.waitFinal(all, time.Duration(jobsN)*3*time.Second+120*time.Second)
	sp := c.checkRun(all, killedAt)

	// The killed host's jobs ran again elsewhere and succeeded (checkRun:
	// every job ended once, succeeded).
	var orphans []string
	handedBack := 0
	for _, s := range sp {
		if s.crashed {
			orphans = append(orphans, s.job)
		}
	}
	if len(orphans) == 0 {
		t.Error("no job was running on w3 when it was killed, so nothing shows its jobs finishing elsewhere")
	}
	for _, ev := range c.events() {
		if ev.Kind == jobs.EventRetrying && strings.Contains(ev.Error, "handed the job back") {
			handedBack++
		}
	}
	t.Logf("main run: %d jobs, %d attempts in all, %d handed back by a stopping worker, %d orphaned by the kill (%v), all run again elsewhere",
		len(all), len(sp), handedBack, len(orphans), orphans)

	// One snapshot per job: none lost, none made twice.
	want := map[string]int{}
	for _, ev := range c.events() {
		if ev.Kind == jobs.EventSucceeded {
			if m := targetRe.FindStringSubmatch(ev.Meta.Text); m != nil && strings.Contains(ev.Meta.Text, "--storage s3") {
				want[m[1]]++
			}
		}
	}
	got := c.snapshotsPerTarget("w1")
	for target, n := range want {
		if got[target] != n {
			t.Errorf("target %s: %d snapshots in the repository, want %d (one per succeeded job)", target, got[target], n)
		}
	}
	if out, err := c.backupctl("w2", "verify", "--all", "--storage", "s3"); err != nil {
		t.Errorf("the repository does not verify clean after the run: %v\n%s", err, out)
	}
}

// netLab is a little network made by one test: a "svc" host (Redis and
// the S3 server) and any number of other hosts, each its own network
// namespace, each joined to svc by its own veth pair on 10.77.N.0/24 (svc
// is 10.77.N.1, the host 10.77.N.2). Nothing leaves the test's
// namespaces; the namespaces (and so the links) go when the test ends.
// Processes share the file system, so unix sockets (the bot's console,
// Redis's socket for the test's own checks) work across namespaces.
type netLab struct {
	t     *testing.T
	id    string
	hosts map[string]int // host name -> link number
	dir   string
}

// newNetLab needs root and iproute2 (CI runs as root).
func newNetLab(t *testing.T, hosts ...string) *netLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the multi-host test makes network namespaces (ip netns add), which needs root; run it as root (CI does)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("the multi-host test needs `ip` from iproute2 (apt-get install iproute2)")
	}
	l := &netLab{t: t, id: randid.Hex(3), hosts: map[string]int{}, dir: t.TempDir()}
	t.Cleanup(l.destroy)
	l.ip("netns", "add", l.ns("svc"))
	l.ip("-n", l.ns("svc"), "link", "set", "lo", "up")
	for i, h := range hosts {
		n := i + 1
		l.hosts[h] = n
		a, z := fmt.Sprintf("b%s%da", l.id, n), fmt.Sprintf("b%s%dz", l.id, n)
		l.ip("netns", "add", l.ns(h))
		l.ip("-n", l.ns(h), "link", "set", "lo", "up")
		l.ip("link", "add", a, "type", "veth", "peer", "name", z)
		l.ip("link", "set", a, "netns", l.ns("svc"))
		l.ip("link", "set", z, "netns", l.ns(h))
		l.ip("-n", l.ns("svc"), "addr", "add", fmt.Sprintf("10.77.%d.1/24", n), "dev", a)
		l.ip("-n", l.ns(h), "addr", "add", fmt.Sprintf("10.77.%d.2/24", n), "dev", z)
		l.ip("-n", l.ns("svc"), "link", "set", a, "up")
		l.ip("-n", l.ns(h), "link", "set", z, "up")
	}
	return l
}

func (l *netLab) ns(host string) string { return "bbtest-" + l.id + "-" + host }

// svcAddr is the svc host's address as seen from host.
func (l *netLab) svcAddr(host string) string {
	n, ok := l.hosts[host]
	if !ok {
		l.t.Fatalf("netlab: no host %q", host)
	}
	return fmt.Sprintf("10.77.%d.1", n)
}

func (l *netLab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// command runs name in host's namespace (ip netns exec execs it, so the
// process's pid is the program's).
func (l *netLab) command(host, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", l.ns(host), name}, args...)...)
}

// killHost SIGKILLs every process in host's namespace, as a power cut would.
func (l *netLab) killHost(host string) int {
	out, err := exec.Command("ip", "netns", "pids", l.ns(host)).Output()
	if err != nil {
		l.t.Fatalf("ip netns pids %s: %v", host, err)
	}
	n := 0
	for f := range strings.FieldsSeq(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			n++
		}
	}
	return n
}

func (l *netLab) destroy() {
	names := []string{l.ns("svc")}
	for h := range l.hosts {
		names = append(names, l.ns(h))
	}
	for _, n := range names {
		if out, err := exec.Command("ip", "netns", "pids", n).Output(); err == nil {
			for f := range strings.FieldsSeq(string(out)) {
				if pid, err := strconv.Atoi(f); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		_ = exec.Command("ip", "netns", "del", n).Run()
	}
}

// startRedis runs redis-server on svc (port 6379 on every link, with AOF)
// and returns a client on its unix socket for the test's own checks.
func (l *netLab) startRedis(e *env) redis.UniversalClient {
	l.t.Helper()
	server := redisServerBin(l.t)
	dir := filepath.Join(l.dir, "redis")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		l.t.Fatal(err)
	}
	sock := filepath.Join(dir, "redis.sock")
	e.startCmd("redis", l.command("svc", server, "--port", "6379", "--bind", "0.0.0.0", "--protected-mode", "no",
		"--unixsocket", sock, "--unixsocketperm", "700", "--appendonly", "yes", "--save", "", "--dir", dir), nil)
	rdb := redis.NewClient(&redis.Options{Network: "unix", Addr: sock})
	l.t.Cleanup(func() { rdb.Close() })
	eventually(l.t, 20*time.Second, "redis-server on the svc host answers", func() bool {
		return rdb.Ping(context.Background()).Err() == nil
	})
	return rdb
}

// startS3 runs versitygw on svc (port 7070 on every link) over a
// directory, with the bucket made, and returns the access key pair.
func (l *netLab) startS3(e *env, bucket string) (accessKey, secretKey string) {
	l.t.Helper()
	bin := versitygwPath(l.t)
	root := filepath.Join(l.dir, "s3")
	if err := os.MkdirAll(filepath.Join(root, bucket), 0o755); err != nil {
		l.t.Fatal(err)
	}
	accessKey, secretKey = "netlab", "netlab-secret-for-this-test-only"
	cmd := l.command("svc", bin, "--port", ":7070", "--quiet", "posix", root)
	e.startCmd("s3", cmd, []string{"ROOT_ACCESS_KEY_ID=" + accessKey, "ROOT_SECRET_ACCESS_KEY=" + secretKey})
	eventually(l.t, 20*time.Second, "versitygw on the svc host answers", func() bool {
		return l.command("svc", "curl", "-s", "-o", "/dev/null", "-m", "2", "http://127.0.0.1:7070/").Run() == nil
	})
	// Port 7071: the same server behind a fixed each-way delay, as object
	// storage across a network (BACKUPBOT_SCALEOUT_S3_DELAY, default 10ms).
	delay := os.Getenv("BACKUPBOT_SCALEOUT_S3_DELAY")
	if _, err := time.ParseDuration(delay); err != nil {
		delay = "10ms"
	}
	self, err := os.Executable()
	if err != nil {
		l.t.Fatal(err)
	}
	e.startCmd("s3-delay", l.command("svc", self), []string{delayProxyEnv + "=0.0.0.0:7071>127.0.0.1:7070/" + delay})
	eventually(l.t, 20*time.Second, "the delay proxy on the svc host answers", func() bool {
		return l.command("svc", "curl", "-s", "-o", "/dev/null", "-m", "2", "http://127.0.0.1:7071/").Run() == nil
	})
	return accessKey, secretKey
}

// versitygwPath finds the S3 server binary that scripts/services/s3.sh installs.
func versitygwPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	for _, env := range []string{"GOBIN", "GOPATH"} {
		out, err := exec.Command("go", "env", env).Output()
		if err != nil || strings.TrimSpace(string(out)) == "" {
			continue
		}
		dir := strings.Split(strings.TrimSpace(string(out)), ":")[0]
		if env == "GOPATH" {
			dir = filepath.Join(dir, "bin")
		}
		if p := filepath.Join(dir, "versitygw"); fileExists(p) {
			return p
		}
	}
	t.Fatal("versitygw is not installed: run `make test` (or `bash scripts/services/s3.sh start`), which installs it")
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// delayProxyEnv makes the test binary a TCP proxy that adds a fixed
// one-way latency to every byte in both directions (without limiting the
// bandwidth): "LISTEN>TARGET/DELAY", e.g. "0.0.0.0:7071>127.0.0.1:7070/10ms".
// The multi-host test runs it on the svc host in front of the S3 server to
// model object storage across a network (20 ms round trip), so the
// workers' throughput is not just the share of this machine's CPU they get.
const delayProxyEnv = "BACKUPBOT_TEST_DELAYPROXY"

func runDelayProxy(spec string) int {
	listen, rest, ok1 := strings.Cut(spec, ">")
	target, d, ok2 := strings.Cut(rest, "/")
	delay, err := time.ParseDuration(d)
	if !ok1 || !ok2 || err != nil {
		fmt.Fprintf(os.Stderr, "%s=%q: want LISTEN>TARGET/DELAY\n", delayProxyEnv, spec)
		return 2
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		go func() {
			defer c.Close()
			u, err := net.Dial("tcp", target)
			if err != nil {
				return
			}
			defer u.Close()
			done := make(chan struct{}, 2)
			go func() { delayedCopy(u, c, delay); done <- struct{}{} }()
			go func() { delayedCopy(c, u, delay); done <- struct{}{} }()
			<-done
		}()
	}
}

// delayedCopy copies src to dst, each chunk delivered delay after it was read.
func delayedCopy(dst, src net.Conn, delay time.Duration) {
	type chunk struct {
		b  []byte
		at time.Time
	}
	ch := make(chan chunk, 4096)
	go func() {
		defer close(ch)
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				ch <- chunk{append([]byte(nil), buf[:n]...), time.Now()}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range ch {
		time.Sleep(time.Until(c.at.Add(delay)))
		if _, err := dst.Write(c.b); err != nil {
			return
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	} else {
		_ = dst.(io.Closer).Close()
	}
}
