package main

import (
	"crypto/rand"
	"fmt"
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
		"BACKUPBOT_REPO_PASSWORD=", "USER=alice", "BACKUPBOT_HTTP_ADDR=")
}

// buildBackupctl builds the terminal tool next to the test's binaries.
func buildBackupctl(t *testing.T) string {
	t.Helper()
	out := filepath.Join(filepath.Dir(binPath), "backupctl")
	if _, err := os.Stat(out); err == nil {
		return out
	}
	if b, err := exec.Command("go", "build", "-o", out, "../backupctl").CombinedOutput(); err != nil {
		t.Fatalf("building backupctl: %v\n%s", err, b)
	}
	return out
}

// TestPipedCommandIsNotLostAtEndOfInput is issue 12's point 9:
// `printf '/backup create --type full --target data\n' | backupbot serve`
// with the embedded defaults finishes the backup before it stops (saying
// so), and `backupctl list` then shows the snapshot.
func TestPipedCommandIsNotLostAtEndOfInput(t *testing.T) {
	ctl := buildBackupctl(t)
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
	id := regexp.MustCompile("Queued as job `([0-9a-f]{8})`").FindStringSubmatch(out)
	if id == nil {
		t.Fatalf("the piped create was not queued:\n%s", tail(out, 40))
	}
	for _, want := range []string{
		"End of input: finishing 1 job(s) before stopping: " + id[1],
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
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	// Enough incompressible data that the backup is still running when the
	// interrupt comes.
	for i := range 8 {
		b := make([]byte, 16<<20)
		_, _ = rand.Read(b)
		writeFile(t, filepath.Join(data, fmt.Sprintf("blob-%d", i)), b)
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
	id := regexp.MustCompile("Queued as job `([0-9a-f]{8})`").FindStringSubmatch(out)
	if id == nil {
		t.Fatalf("the piped create was not queued:\n%s", tail(out, 40))
	}
	if strings.Contains(out, "All jobs finished") {
		t.Fatalf("the job finished before the interrupt (make the data bigger):\n%s", tail(out, 40))
	}
	want := "Interrupted: stopping now; job(s) " + id[1] + " handed back"
	if !strings.Contains(out, want) {
		t.Errorf("serve's output does not say %q:\n%s", want, tail(out, 40))
	}
	t.Logf("stopped %s after the interrupt", time.Since(start).Round(time.Millisecond))
}

// servePiped starts `backupbot serve` with the embedded defaults in dir,
// input piped in; done receives its exit.
func servePiped(t *testing.T, dir, input string) (*exec.Cmd, *lockedBuffer, chan error) {
	t.Helper()
	cmd := exec.Command(binPath, "serve", "--http-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	cmd.Dir = dir
	cmd.Env = embeddedEnv()
	cmd.Stdin = strings.NewReader(input)
	log := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return cmd, log, done
}
