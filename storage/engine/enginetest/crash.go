package enginetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/backupbot/backupbot/storage"
	"github.com/backupbot/backupbot/storage/engine"
)

// CrashOptions tune RunCrash.
type CrashOptions struct {
	// Kills is how many backups are killed (default 20).
	Kills int
	// MaxDelay is the latest a kill comes after the start (default: the
	// time an uninterrupted backup of the data into a local scratch
	// repository takes, measured first).
	MaxDelay time.Duration
	// DataBytes is roughly how much data each backup reads (default 48 MiB).
	DataBytes int
	// Seed fixes the kill times (default: from the clock, logged).
	Seed uint64
}

// RunCrash builds backupctl, then many times starts a backup into the
// storage spec describes and kills it with SIGKILL at a random moment.
// After every kill the repository must verify clean (deep), and at the end
// a backup must succeed and restore exactly. spec must name an empty
// location; the repository password is Password.
func RunCrash(t *testing.T, spec storage.Spec, opts CrashOptions) {
	if opts.Kills <= 0 {
		opts.Kills = 20
	}
	if opts.DataBytes <= 0 {
		opts.DataBytes = 48 << 20
	}
	if opts.Seed == 0 {
		opts.Seed = uint64(time.Now().UnixNano())
	}
	t.Logf("crash test seed %d (set CrashOptions.Seed to replay)", opts.Seed)
	rng := rand.New(rand.NewPCG(opts.Seed, 1))

	work := t.TempDir()
	bin := filepath.Join(work, "backupctl")
	build := exec.Command("go", "build", "-o", bin, "github.com/backupbot/backupbot/cmd/backupctl")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building backupctl: %v\n%s", err, out)
	}
	src := filepath.Join(work, "src")
	makeCrashData(t, src, opts.DataBytes, opts.Seed)
	cfgPath := filepath.Join(work, "backupbot.yaml")
	cfg := map[string]any{
		"storages": map[string]storage.Spec{"crash": spec},
		"targets":  map[string]any{"data": map[string]any{"paths": []string{src}}},
	}
	buf, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, buf, 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "BACKUPBOT_REPO_PASSWORD="+Password, "BACKUPBOT_CONFIG=")
	backupctl := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, append([]string{"--config", cfgPath}, args...)...)
		cmd.Env = env
		return cmd
	}

	if opts.MaxDelay <= 0 {
		scratch := filepath.Join(work, "scratch-repo")
		start := time.Now()
		cmd := backupctl("create", "--type", "full", "--target", "data", "--storage", "local", "--path", scratch)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("timing an uninterrupted backup: %v\n%s", err, out)
		}
		opts.MaxDelay = time.Since(start)
		_ = os.RemoveAll(scratch)
		t.Logf("an uninterrupted backup takes %s; kills come within that", opts.MaxDelay.Round(time.Millisecond))
	}

	killed := 0
	for i := range opts.Kills {
		typ := []string{"full", "incremental", "differential"}[i%3]
		// Change a little of the data, so each backup has new chunks to write.
		write(t, filepath.Join(src, "changing", fmt.Sprintf("round-%02d.bin", i)), randomBytes(opts.Seed+uint64(i), 3<<20), 0o644)
		cmd := backupctl("create", "--type", typ, "--target", "data", "--storage", "crash")
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(rng.Int64N(int64(opts.MaxDelay)))
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("round %d: backup failed on its own before the kill: %v\n%s", i, err, out.String())
			}
		case <-time.After(delay):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-exited
			killed++
		}
		checkAfterCrash(t, spec, i)
	}
	t.Logf("%d of %d backups were killed midway", killed, opts.Kills)

	cmd := backupctl("create", "--type", "incremental", "--target", "data", "--storage", "crash")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the backup after the crashes failed: %v\n%s", err, out)
	}
	restoreTo := filepath.Join(work, "restored")
	cmd = backupctl("restore", "--name", "latest", "--target", "data", "--storage", "crash", "--to", restoreTo)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("restoring after the crashes failed: %v\n%s", err, out)
	}
	compareTrees(t, src, filepath.Join(restoreTo, src))
	cmd = backupctl("verify", "--all", "--deep", "--storage", "crash")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("backupctl verify --all --deep after the crashes: %v\n%s", err, out)
	}
}

// checkAfterCrash deep-verifies the repository, if the killed process got
// as far as creating it.
func checkAfterCrash(t *testing.T, spec storage.Spec, round int) {
	t.Helper()
	ctx := context.Background()
	b, err := storage.Open(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	e, err := engine.Open(ctx, b, engine.OpenOptions{Password: Password})
	if err != nil {
		if errors.Is(err, engine.ErrNoRepository) {
			return // killed before the repository existed
		}
		t.Fatalf("round %d: opening the repository after a kill: %v", round, err)
	}
	defer e.Close()
	rep, err := e.Verify(ctx, engine.VerifyRequest{All: true, Deep: true}, nil)
	if err != nil {
		t.Fatalf("round %d: verify after a kill: %v", round, err)
	}
	if !rep.OK() {
		t.Fatalf("round %d: the repository is damaged after a kill: %+v", round, rep.Problems)
	}
}

func makeCrashData(t *testing.T, dir string, total int, seed uint64) {
	t.Helper()
	n := 0
	for i := 0; n < total/2; i++ {
		size := 4<<20 + i*(1<<20)
		write(t, filepath.Join(dir, "big", fmt.Sprintf("blob-%02d.bin", i)), randomBytes(seed*31+uint64(i), size), 0o644)
		n += size
	}
	line := []byte("2024-05-01T10:00:00Z INFO [worker] a compressible log line with some words in it\n")
	for i := 0; n < total; i++ {
		body := make([]byte, 0, 64<<10)
		for len(body) < 60<<10 {
			body = append(body, line...)
			body = append(body, byte('a'+i%26))
		}
		write(t, filepath.Join(dir, "text", fmt.Sprintf("d%02d", i%17), fmt.Sprintf("f%04d.log", i)), body, 0o644)
		n += len(body)
	}
}
