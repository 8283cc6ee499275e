package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/internal/randid"
)

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
