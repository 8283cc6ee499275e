package main

import (
	"fmt"
	"github.com/backupbot/backupbot/bot/console/consoletest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// embeddedEnv is the environment of `make run` on a fresh clone: no
// configuration file, no REDIS_URL, no chat tokens.
func embeddedEnv() []string {
	return append(os.Environ(), "REDIS_URL=", "BACKUPBOT_CONFIG=", "SLACK_BOT_TOKEN=", "DISCORD_BOT_TOKEN=",
		"BACKUPBOT_REPO_PASSWORD=", "BACKUPBOT_REPO_PASSWORD_FILE=", "USER=alice", "BACKUPBOT_HTTP_ADDR=")
}

// TestServeWithEmbeddedDefaults is issue 4's point 4 (`make run` on a fresh
// machine): no configuration, no REDIS_URL; a create shows the ack, a
// progress message and the summary, and a restore preview shows the plan.
func TestServeWithEmbeddedDefaults(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "console.sock")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(binPath, "serve", "--console-socket", sock, "--no-stdin", "--http-addr", addr)
	cmd.Dir = dir
	cmd.Env = embeddedEnv()
	log := &consoletest.Buffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("serve did not stop within 30 s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("---- serve log ----\n%s", tail(log.String(), 60))
		}
	}()
	c := dialConsole(t, sock)
	id := c.command("/backup create --type full --target data")
	got := c.waitDone(id, 60*time.Second)
	m := regexp.MustCompile(`^✅ Backup (\S+) done`).FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("create outcome %q, want a finished backup", got)
	}
	preview := c.command("/backup restore --name " + m[1] + " --preview")
	if got := c.waitDone(preview, 60*time.Second); !strings.HasPrefix(got, "✅ Restore preview of") {
		t.Fatalf("preview outcome %q", got)
	}
	transcript := strings.Join(c.all(), "\n")
	for _, want := range []string{"Plan: ", "README.txt", "nothing was written"} {
		if !strings.Contains(transcript, want) {
			t.Errorf("the preview does not show %q:\n%s", want, transcript)
		}
	}
	if !strings.Contains(log.String(), "EMBEDDED in-memory Redis") {
		t.Error("no loud warning that the embedded Redis loses queued jobs")
	}
	// No password configured: the embedded defaults generate one (0600),
	// say where it is and that it must be kept, and the repository is
	// encrypted with it.
	pwFile := filepath.Join(dir, "var", "repo-password")
	if fi, err := os.Stat(pwFile); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() < 32 {
		t.Errorf("the generated password file %s: %v, %v; want a 0600 file with a random password", pwFile, fi, err)
	}
	if !strings.Contains(log.String(), "🔑 generated a random repository password in "+pwFile) ||
		!regexp.MustCompile(`level=WARN msg="generated a random repository password in `+regexp.QuoteMeta(pwFile)+`.*KEEP THIS FILE`).MatchString(log.String()) {
		t.Errorf("serve does not name the generated password file %s and say to keep it on the console and in the log", pwFile)
	}
	if cfg, err := os.ReadFile(filepath.Join(dir, "var", "repo", "config")); err != nil || !strings.Contains(string(cfg), `"encryption": "aes-256-gcm"`) {
		t.Errorf("the repository of the embedded defaults is not encrypted: %s %v", cfg, err)
	}
	if code, body := readyz(addr); code != 200 {
		t.Errorf("/readyz = %d %s", code, body)
	}
	t.Logf("transcript:\n%s", transcript)
}

// TestPipedCommandIsNotLostAtEndOfInput is issue 12's point 9:
// `printf '/backup create --type full --target data\n' | backupbot serve`
// with the embedded defaults finishes the backup before it stops (saying
// so), and `backupctl list` then shows the snapshot.
func TestPipedCommandIsNotLostAtEndOfInput(t *testing.T) {
	ctl := backupctlPath(t)
	dir := t.TempDir()
	cmd, log, done := servePiped(t, dir, "/backup create --type full --target data\n")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v:\n%s", err, tail(log.String(), 40))
		}
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("serve did not stop within 90 s of the end of its input:\n%s", tail(log.String(), 40))
	}
	out := log.String()
	id := queuedID(t, out)
	for _, want := range []string{
		"End of input: finishing 1 job(s) before stopping: " + id,
		"✅ Backup ",
		"All jobs finished; stopping.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("serve's output does not say %q:\n%s", want, tail(out, 40))
		}
	}
	name := regexp.MustCompile(`✅ Backup (\S+) done`).FindStringSubmatch(out)
	if name == nil {
		t.Fatalf("no finished backup in the output:\n%s", tail(out, 40))
	}

	list := exec.Command(ctl, "list")
	list.Dir = dir
	list.Env = embeddedEnv()
	got, err := list.CombinedOutput()
	if err != nil {
		t.Fatalf("backupctl list: %v\n%s", err, got)
	}
	if !strings.Contains(string(got), name[1]) {
		t.Errorf("backupctl list does not show the snapshot %s made through the piped command:\n%s", name[1], got)
	}
}

// TestInterruptWhileFinishingNamesTheJobsHandedBack: an interrupt while
// serve finishes the jobs after the end of its input stops it at once and
// says which jobs were handed back.
func TestInterruptWhileFinishingNamesTheJobsHandedBack(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "var", "data")
	// Enough incompressible data that the backup is still running when the
	// interrupt comes.
	for i := range 8 {
		writeRandom(t, filepath.Join(data, fmt.Sprintf("blob-%d", i)), 16<<20)
	}
	cmd, log, done := servePiped(t, dir, "/backup create --type full --target data\n")
	eventually(t, 30*time.Second, "serve says it is finishing the job", func() bool {
		return strings.Contains(log.String(), "End of input: finishing 1 job(s)")
	})
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("serve did not stop within 30 s of the interrupt:\n%s", tail(log.String(), 40))
	}
	out := log.String()
	id := queuedID(t, out)
	if strings.Contains(out, "All jobs finished") {
		t.Fatalf("the job finished before the interrupt (make the data bigger):\n%s", tail(out, 40))
	}
	want := "Interrupted: stopping now; job(s) " + id + " handed back"
	if !strings.Contains(out, want) {
		t.Errorf("serve's output does not say %q:\n%s", want, tail(out, 40))
	}
	t.Logf("stopped %s after the interrupt", time.Since(start).Round(time.Millisecond))
}

// queuedID is the id of the job the piped create queued, from serve's output.
func queuedID(t *testing.T, out string) string {
	t.Helper()
	id := regexp.MustCompile("Queued as job `([0-9a-f]{8})`").FindStringSubmatch(out)
	if id == nil {
		t.Fatalf("the piped create was not queued:\n%s", tail(out, 40))
	}
	return id[1]
}

// servePiped starts `backupbot serve` with the embedded defaults in dir,
// input piped in; done receives its exit.
func servePiped(t *testing.T, dir, input string) (*exec.Cmd, *consoletest.Buffer, chan error) {
	t.Helper()
	cmd := exec.Command(binPath, "serve", "--http-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	cmd.Dir = dir
	cmd.Env = embeddedEnv()
	cmd.Stdin = strings.NewReader(input)
	log := &consoletest.Buffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return cmd, log, done
}
