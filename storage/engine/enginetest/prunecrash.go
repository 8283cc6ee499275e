package enginetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/backupbot/backupbot/storage"
	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/engine"
	"github.com/backupbot/backupbot/storage/retention"
)

// Variables that turn a test binary into the prune process RunPruneCrash
// kills (see PruneCrashChild).
const (
	pruneChildSpec  = "BACKUPBOT_PRUNE_CHILD_SPEC"
	pruneChildKill  = "BACKUPBOT_PRUNE_CHILD_KILL_AT"    // the n-th Put or Delete (0: never)
	pruneChildAfter = "BACKUPBOT_PRUNE_CHILD_KILL_AFTER" // "1": kill after that operation, else before
	pruneChildLater = "BACKUPBOT_PRUNE_CHILD_LATER"      // how far the child's clock is ahead (a Go duration)
	pruneCrashGrace = time.Hour
)

// PruneCrashChild runs the prune child and exits when the environment
// asks for it; call it first in TestMain of the package that calls
// RunPruneCrash.
func PruneCrashChild() {
	spec := os.Getenv(pruneChildSpec)
	if spec == "" {
		return
	}
	if err := pruneChild(spec); err != nil {
		fmt.Fprintln(os.Stderr, "prune child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func crashPolicy(target, _ string) (string, retention.Policy) {
	if target == "data" {
		return target, retention.Policy{Last: 1}
	}
	return target, retention.Policy{}
}

func pruneChild(specJSON string) error {
	ctx := context.Background()
	var spec storage.Spec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		return err
	}
	b, err := storage.Open(ctx, spec)
	if err != nil {
		return err
	}
	killAt, _ := strconv.ParseInt(os.Getenv(pruneChildKill), 10, 64)
	later, _ := time.ParseDuration(os.Getenv(pruneChildLater))
	kb := &killingBackend{Backend: b, at: killAt, after: os.Getenv(pruneChildAfter) == "1"}
	e, err := engine.Open(ctx, kb, engine.OpenOptions{Password: Password})
	if err != nil {
		return err
	}
	_, err = e.Cleanup(ctx, engine.CleanupRequest{Policy: crashPolicy, Grace: pruneCrashGrace, Now: time.Now().Add(later)})
	return err
}

// killingBackend SIGKILLs its own process at the at-th mutating call.
type killingBackend struct {
	backend.Backend
	at    int64
	after bool
	n     atomic.Int64
}

func (k *killingBackend) step(op func() error) error {
	n := k.n.Add(1)
	if n == k.at && !k.after {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	}
	err := op()
	if n == k.at && k.after {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	}
	return err
}

func (k *killingBackend) Put(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
	return k.step(func() error { return k.Backend.Put(ctx, key, body, size) })
}

func (k *killingBackend) Delete(ctx context.Context, key string) error {
	return k.step(func() error { return k.Backend.Delete(ctx, key) })
}

func (k *killingBackend) Unwrap() backend.Backend { return k.Backend }

// PruneCrashOptions tune RunPruneCrash.
type PruneCrashOptions struct {
	// Kills is how many prunes are killed (default 20). Each round kills
	// one in its mark phase and one in its delete phase when the random
	// point falls within it; rounds go on until Kills is reached (at most
	// Kills rounds).
	Kills int
	// Seed fixes the kill points (default: from the clock, logged).
	Seed uint64
}

// RunPruneCrash kills prunes at random points of both phases. Each round
// makes a backup (so the previous one becomes removable), holds another
// backup open (so the prune must mark and wait), and runs a prune that
// is SIGKILLed at a random Put or Delete (the mark phase), then one whose
// clock is past the grace, killed the same way (the delete phase). After
// every kill the repository must verify clean (deep); then, the held
// backup finished, a prune must run to the end, leave nothing to reclaim,
// and the newest backup restore exactly. The test binary must call
// PruneCrashChild from TestMain. spec names an empty location.
func RunPruneCrash(t *testing.T, spec storage.Spec, opts PruneCrashOptions) {
	if opts.Kills <= 0 {
		opts.Kills = 20
	}
	if opts.Seed == 0 {
		opts.Seed = uint64(time.Now().UnixNano())
	}
	t.Logf("prune crash seed %d (set PruneCrashOptions.Seed to replay)", opts.Seed)
	rng := rand.New(rand.NewPCG(opts.Seed, 2))
	ctx := context.Background()
	b, err := storage.Open(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	e := open(t, b, Password)
	specJSON, _ := json.Marshal(spec)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := func(killAt int64, after bool, later time.Duration) (killed bool) {
		t.Helper()
		cmd := exec.Command(self, "-test.run=^$")
		cmd.Env = append(os.Environ(), pruneChildSpec+"="+string(specJSON), pruneChildKill+"="+strconv.FormatInt(killAt, 10),
			pruneChildLater+"="+later.String())
		if after {
			cmd.Env = append(cmd.Env, pruneChildAfter+"=1")
		}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
				return true
			}
		}
		if err != nil {
			t.Fatalf("the prune failed on its own (kill at %d): %v\n%s", killAt, err, out)
		}
		return false
	}
	check := func(round int, phase string) {
		t.Helper()
		ce, err := engine.Open(ctx, b, engine.OpenOptions{Password: Password})
		if err != nil {
			t.Fatalf("round %d, %s: opening after a kill: %v", round, phase, err)
		}
		defer ce.Close()
		rep, err := ce.Verify(ctx, engine.VerifyRequest{All: true, Deep: true}, nil)
		if err != nil {
			t.Fatalf("round %d, %s: verify after a kill: %v", round, phase, err)
		}
		if !rep.OK() {
			t.Fatalf("round %d, %s: the repository is damaged after a kill: %+v", round, phase, rep.Problems)
		}
	}
	src := filepath.Join(t.TempDir(), "src")
	holdDir := t.TempDir()
	write(t, filepath.Join(src, "data.bin"), randomBytes(opts.Seed, 2<<20), 0o644)
	backup(t, e, engine.BackupRequest{Paths: []string{src}, Type: engine.TypeFull, Target: "data"})
	kills, round := 0, 0
	for ; kills < opts.Kills && round < opts.Kills; round++ {
		write(t, filepath.Join(src, "data.bin"), randomBytes(opts.Seed+uint64(round+1), 2<<20), 0o644)
		backup(t, e, engine.BackupRequest{Paths: []string{src}, Type: engine.TypeFull, Target: "data"})
		hsrc := filepath.Join(holdDir, fmt.Sprint(round))
		write(t, filepath.Join(hsrc, "f"), randomBytes(opts.Seed^uint64(round+1000), 256<<10), 0o644)
		held := startHeldBackup(t, b, hsrc, fmt.Sprintf("hold-%d", round), true)
		waitReached(t, held.reached, "the held backup")
		// An uninterrupted mark phase here makes 4 Puts and Deletes (lock,
		// snapshot, candidates, lock), a delete phase about 10.
		if child(1+rng.Int64N(4), rng.IntN(2) == 0, 0) {
			kills++
		}
		check(round, "mark phase")
		if child(1+rng.Int64N(10), rng.IntN(2) == 0, 2*pruneCrashGrace) {
			kills++
		}
		check(round, "delete phase")
		close(held.release)
		held.wait(t)
		if child(0, false, 2*pruneCrashGrace) {
			t.Fatal("a prune with no kill point was killed")
		}
		check(round, "the prune after the kills")
		dry, err := e.Cleanup(ctx, engine.CleanupRequest{Policy: crashPolicy, DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		if dry.Reclaimable != 0 {
			t.Fatalf("round %d: the prune after the kills left %d bytes to reclaim; it must finish the work", round, dry.Reclaimable)
		}
	}
	if kills < opts.Kills {
		t.Fatalf("only %d prunes were killed in %d rounds, want %d", kills, round, opts.Kills)
	}
	t.Logf("%d prunes killed midway in %d rounds", kills, round)
	out := t.TempDir()
	restore(t, e, engine.RestoreRequest{Snapshot: "latest", Target: "data", To: out})
	compareTrees(t, src, filepath.Join(out, src))
}
