package enginetest

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/engine"
	"github.com/backupbot/backupbot/storage/retention"
)

// gate wraps a backend and calls before/after around each Put, so a test
// can hold an operation at a chosen point (as if it were slow) or start
// another one exactly there.
type gate struct {
	backend.Backend
	before, after func(key string)
}

func (g *gate) Put(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
	if g.before != nil {
		g.before(key)
	}
	err := g.Backend.Put(ctx, key, body, size)
	if g.after != nil {
		g.after(key)
	}
	return err
}

func (g *gate) Unwrap() backend.Backend { return g.Backend }

// heldBackup is a backup that stops at its first pack upload until
// released: it has taken its lock and loaded the index by then.
type heldBackup struct {
	src     string
	reached chan struct{}
	release chan struct{}
	done    chan struct{}
	res     *engine.BackupResult
	err     error
}

func startHeldBackup(t *testing.T, b backend.Backend, src, target string, hold bool) *heldBackup {
	t.Helper()
	h := &heldBackup{src: src, reached: make(chan struct{}), release: make(chan struct{}), done: make(chan struct{})}
	if !hold {
		close(h.release)
	}
	var once sync.Once
	g := &gate{Backend: b, before: func(key string) {
		if strings.HasPrefix(key, "data/") {
			once.Do(func() { close(h.reached) })
			<-h.release
		}
	}}
	e, err := engine.Open(context.Background(), g, engine.OpenOptions{Password: Password})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(h.done)
		defer e.Close()
		h.res, h.err = e.Backup(context.Background(), engine.BackupRequest{Paths: []string{src}, Type: engine.TypeIncremental, Target: target}, nil)
	}()
	return h
}

func (h *heldBackup) wait(t *testing.T) *engine.BackupResult {
	t.Helper()
	select {
	case <-h.done:
	case <-time.After(2 * time.Minute):
		t.Fatal("a backup did not finish")
	}
	if h.err != nil {
		t.Fatalf("a backup running beside the prune failed: %v", h.err)
	}
	return h.res
}

func waitReached(t *testing.T, c chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(time.Minute):
		t.Fatalf("%s never reached its first upload", what)
	}
}

// sizeWithoutLocks is the repository's size, lock files aside (they come
// and go with the operations running).
func sizeWithoutLocks(t *testing.T, b backend.Backend) int64 {
	t.Helper()
	var n int64
	if err := b.List(context.Background(), "", func(i backend.Info) error {
		if !strings.HasPrefix(i.Key, "locks/") {
			n += i.Size
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// pruneBesideBackups: a cleanup runs while three backups run, one started
// before it, one during its mark phase, one after it; the first two use
// data of a snapshot the cleanup forgets. Every backup succeeds and
// restores exactly, deep verify is clean, and once the grace has passed a
// second cleanup, run beside yet another backup, frees what the dry run
// announced and keeps what the backups use.
func (s *suite) pruneBesideBackups(t *testing.T) {
	b := s.backend(t)
	e := open(t, b, Password)
	ctx := context.Background()
	dir := t.TempDir()
	old := randomBytes(7001, 3<<20)    // in a forgotten snapshot, reused by the two backups that start before the candidates are written
	unique := randomBytes(7002, 4<<20) // in a forgotten snapshot only: freed
	write(t, filepath.Join(dir, "s0", "unique"), unique, 0o644)
	write(t, filepath.Join(dir, "s1", "old"), old, 0o644)
	write(t, filepath.Join(dir, "s2", "cur"), randomBytes(7003, 1<<20), 0o644)
	for _, d := range []string{"s0", "s1", "s2"} {
		backup(t, e, engine.BackupRequest{Paths: []string{filepath.Join(dir, d)}, Type: engine.TypeFull, Target: "data"})
		time.Sleep(10 * time.Millisecond)
	}
	srcs := map[string]string{}
	for i, name := range []string{"b1", "b2", "b3", "b4"} {
		src := filepath.Join(dir, name)
		if name == "b1" || name == "b2" {
			write(t, filepath.Join(src, "old"), old, 0o644)
		}
		write(t, filepath.Join(src, "new"), randomBytes(uint64(7100+i), 1<<20), 0o644)
		srcs[name] = src
	}
	lastOne := func(string, string) (string, retention.Policy) { return "", retention.Policy{Last: 1} }
	policy := func(target, _ string) (string, retention.Policy) {
		if target == "data" {
			return lastOne(target, "")
		}
		return target, retention.Policy{} // keep everything else
	}

	// b1 starts before the cleanup and is held in its upload.
	b1 := startHeldBackup(t, b, srcs["b1"], "b1", true)
	waitReached(t, b1.reached, "the backup started before the prune")
	var b2, b3 *heldBackup
	pg := &gate{Backend: b,
		before: func(key string) {
			if strings.HasPrefix(key, "prune/") && b2 == nil {
				// The mark is computed and about to be written: b2 starts
				// now and loads the index before the candidates exist.
				b2 = startHeldBackup(t, b, srcs["b2"], "b2", true)
				waitReached(t, b2.reached, "the backup started during the mark")
			}
		},
		after: func(key string) {
			if strings.HasPrefix(key, "prune/") && b3 == nil {
				b3 = startHeldBackup(t, b, srcs["b3"], "b3", false)
			}
		},
	}
	pe, err := engine.Open(ctx, pg, engine.OpenOptions{Password: Password})
	if err != nil {
		t.Fatal(err)
	}
	defer pe.Close()
	const grace = time.Hour
	res, err := pe.Cleanup(ctx, engine.CleanupRequest{Policy: policy, Grace: grace})
	if err != nil {
		t.Fatalf("the cleanup beside running backups failed: %v", err)
	}
	if len(res.Removed) != 2 || res.PacksPending == 0 || res.PacksDeleted != 0 {
		t.Fatalf("first cleanup: removed %d snapshots, %d packs pending, %d deleted; want 2, some, none (backups are running)",
			len(res.Removed), res.PacksPending, res.PacksDeleted)
	}
	if b2 == nil || b3 == nil {
		t.Fatal("the prune wrote no candidates, so no backup ran during or after its mark")
	}
	b3res := b3.wait(t)
	close(b1.release)
	close(b2.release)
	results := map[string]*engine.BackupResult{"b1": b1.wait(t), "b2": b2.wait(t), "b3": b3res}

	dry, err := e.Cleanup(ctx, engine.CleanupRequest{Policy: policy, Grace: grace, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if dry.Reclaimable < 4<<20 {
		t.Fatalf("the dry run promises %d bytes; the forgotten unique data alone is %d", dry.Reclaimable, 4<<20)
	}

	// The grace has passed; a fourth backup is running (held) meanwhile.
	b4 := startHeldBackup(t, b, srcs["b4"], "b4", true)
	waitReached(t, b4.reached, "the backup beside the second prune")
	before := sizeWithoutLocks(t, b)
	res, err = pe.Cleanup(ctx, engine.CleanupRequest{Policy: policy, Grace: grace, Now: time.Now().Add(2 * grace)})
	if err != nil {
		t.Fatalf("the second cleanup failed: %v", err)
	}
	after := sizeWithoutLocks(t, b)
	close(b4.release)
	results["b4"] = b4.wait(t)
	freed := before - after
	if d := freed - dry.Reclaimable; d > dry.Reclaimable/100 || -d > dry.Reclaimable/100 {
		t.Fatalf("the repository shrank by %d bytes; the dry run said %d (more than 1%% apart)", freed, dry.Reclaimable)
	}
	if res.PacksRescued == 0 {
		t.Errorf("no candidate was rescued, though the backups before and during the mark reuse forgotten data")
	}
	t.Logf("dry run %d bytes, freed %d, %d packs deleted, %d rescued", dry.Reclaimable, freed, res.PacksDeleted, res.PacksRescued)

	for name, r := range results {
		out := t.TempDir()
		restore(t, e, engine.RestoreRequest{Snapshot: r.Snapshot.ID, To: out})
		compareTrees(t, srcs[name], filepath.Join(out, srcs[name]))
	}
	out := t.TempDir()
	restore(t, e, engine.RestoreRequest{Snapshot: "latest", Target: "data", To: out})
	compareTrees(t, filepath.Join(dir, "s2"), filepath.Join(out, dir, "s2"))
	verifyClean(t, e)
}

// repack: after a cleanup forgets the backup that used 80% of every
// pack, repacking frees at least 75% of the repository, and the backup
// left restores exactly.
func (s *suite) repack(t *testing.T) {
	b := s.backend(t)
	e := open(t, b, Password)
	ctx := context.Background()
	dir := t.TempDir()
	all, some := filepath.Join(dir, "all"), filepath.Join(dir, "some")
	for i := range 40 {
		data := randomBytes(uint64(9000+i), 600<<10)
		write(t, filepath.Join(all, fmt.Sprintf("f%02d", i)), data, 0o644)
		if i%5 == 0 {
			write(t, filepath.Join(some, fmt.Sprintf("f%02d", i)), data, 0o644)
		}
	}
	backup(t, e, engine.BackupRequest{Paths: []string{all}, Type: engine.TypeFull, Target: "data"})
	time.Sleep(10 * time.Millisecond)
	kept := backup(t, e, engine.BackupRequest{Paths: []string{some}, Type: engine.TypeFull, Target: "data"})
	last1 := func(target, _ string) (string, retention.Policy) { return target, retention.Policy{Last: 1} }

	noRepack, err := e.Cleanup(ctx, engine.CleanupRequest{Policy: last1, DryRun: true, MaxUnused: -1})
	if err != nil {
		t.Fatal(err)
	}
	dry, err := e.Cleanup(ctx, engine.CleanupRequest{Policy: last1, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	before := sizeWithoutLocks(t, b)
	res, err := e.Cleanup(ctx, engine.CleanupRequest{Policy: last1})
	if err != nil {
		t.Fatal(err)
	}
	after := sizeWithoutLocks(t, b)
	freed := before - after
	t.Logf("%d bytes before, %d after: freed %d (%.0f%%); %d packs repacked into %d bytes; the dry run said %d (%d without repacking)",
		before, after, freed, 100*float64(freed)/float64(before), res.PacksRepacked, res.BytesWritten, dry.Reclaimable, noRepack.Reclaimable)
	if freed*4 < before*3 {
		t.Fatalf("repacking freed %d of %d bytes; want at least 75%%", freed, before)
	}
	if noRepack.Reclaimable*4 >= before {
		t.Fatalf("without repacking %d of %d bytes would be reclaimable: the data is not spread over the packs as the test means", noRepack.Reclaimable, before)
	}
	if d := freed - dry.Reclaimable; d > before/100 || -d > before/100 {
		t.Errorf("the dry run said %d, the cleanup freed %d", dry.Reclaimable, freed)
	}
	out := t.TempDir()
	restore(t, e, engine.RestoreRequest{Snapshot: kept.Snapshot.ID, To: out})
	compareTrees(t, some, filepath.Join(out, some))
	verifyClean(t, e)
}
