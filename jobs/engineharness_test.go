package jobs

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/storage"
	"github.com/backupbot/backupbot/storage/engine"
	"github.com/backupbot/backupbot/storage/pack"
	storerepo "github.com/backupbot/backupbot/storage/repo"
)

// The helpers of the tests that run jobs against a real local repository:
// source trees to back up, the engine harness, and direct looks into the
// repository (its snapshots, its data packs, a deep verify).

// writeTree makes a small source tree: a few files of text and one of
// random bytes (size rnd) so backups have something to chunk.
func writeTree(t testing.TB, dir string, rnd int) map[string][]byte {
	t.Helper()
	files := map[string][]byte{
		"readme.txt":          []byte("hello from the data target\n"),
		"conf/app.yaml":       []byte("listen: 8080\n"),
		"deep/a/b/c/note.txt": []byte(strings.Repeat("note ", 100)),
		"random.bin":          randomBytes(rnd, 1),
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed+1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// incompressibleTree writes mib MiB of random data in 4 MiB files.
func incompressibleTree(t testing.TB, dir string, mib int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(mib), 11))
	buf := make([]byte, 4<<20)
	for i := 0; i*4 < mib; i++ {
		n := min(4, mib-i*4) << 20
		for j := 0; j < n; j += 8 {
			v := rng.Uint64()
			for k := range 8 {
				buf[j+k] = byte(v >> (8 * k))
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d.bin", i)), buf[:n], 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// newDataHarness is a harness (no worker yet) whose one target "data" is
// in a new directory, filled by fill, and whose storage "local" is a new
// repository next to it.
func newDataHarness(t *testing.T, fill func(dir string)) (h *harness, src, repoDir string) {
	t.Helper()
	h = newHarness(t)
	dir := t.TempDir()
	src, repoDir = filepath.Join(dir, "data"), filepath.Join(dir, "repo")
	fill(src)
	h.cfg = testConfig(repoDir, map[string]string{"data": src})
	return h, src, repoDir
}

// engineHarness is a harness with a real local repository and a target
// "data" (and "config") with files in them.
type engineHarness struct {
	*harness
	repo, data, conf string
	files            map[string][]byte
}

func newEngineHarness(t *testing.T, o WorkerOptions) *engineHarness {
	t.Helper()
	h := newEngineTrees(t, 3<<20)
	h.startWorker(h.deps(), o)
	return h
}

// newEngineTrees is newEngineHarness before its worker starts, with rnd
// random bytes in the data target: the test starts the worker with the
// dependencies it needs.
func newEngineTrees(t *testing.T, rnd int) *engineHarness {
	t.Helper()
	dir := t.TempDir()
	h := &engineHarness{harness: newHarness(t), repo: filepath.Join(dir, "repo"), data: filepath.Join(dir, "data"), conf: filepath.Join(dir, "config")}
	h.files = writeTree(t, h.data, rnd)
	writeTree(t, h.conf, 1000)
	h.cfg = testConfig(h.repo, map[string]string{"data": h.data, "config": h.conf})
	return h
}

// withRepo opens the local repository in dir with the test password, runs
// f on it and closes it again.
func withRepo(t testing.TB, dir string, f func(ctx context.Context, e *engine.Engine)) {
	t.Helper()
	ctx := context.Background()
	b, err := storage.Open(ctx, storage.Spec{Type: storage.KindLocal, Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	e, err := engine.Open(ctx, b, engine.OpenOptions{Password: testRepoPassword})
	if err != nil {
		t.Fatalf("open the repository in %s: %v", dir, err)
	}
	defer e.Close()
	f(ctx, e)
}

// snapshots lists the repository directly through the engine.
func (h *engineHarness) snapshots() []engine.SnapshotInfo {
	h.t.Helper()
	return snapshotsIn(h.t, h.repo)
}

// snapshotsIn lists the local repository in dir through the engine.
func snapshotsIn(t testing.TB, dir string) (s []engine.SnapshotInfo) {
	t.Helper()
	withRepo(t, dir, func(ctx context.Context, e *engine.Engine) {
		var err error
		if s, err = e.Snapshots(ctx, engine.SnapshotFilter{}); err != nil {
			t.Fatal(err)
		}
	})
	return s
}

// dataPacks returns the files of the packs holding file data.
func (h *engineHarness) dataPacks() (out []string) {
	h.t.Helper()
	withRepo(h.t, h.repo, func(_ context.Context, e *engine.Engine) {
		seen := map[string]bool{}
		e.Repository().Index.Each(func(l storerepo.Location) {
			k := filepath.Join(h.repo, filepath.FromSlash(storerepo.PackKey(l.Pack)))
			if l.Type == pack.DataBlob && !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		})
	})
	if len(out) == 0 {
		h.t.Fatal("no data packs")
	}
	return out
}

// damageFile flips one byte, a third of the way into the file at p.
func damageFile(t testing.TB, p string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/3] ^= 0xff
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// verifyRepo deep-verifies a local repository and makes one more backup
// into it, failing the test unless both succeed.
func verifyRepo(t *testing.T, repoDir, src string) {
	t.Helper()
	withRepo(t, repoDir, func(ctx context.Context, e *engine.Engine) {
		rep, err := e.Verify(ctx, engine.VerifyRequest{All: true, Deep: true}, nil)
		if err != nil || !rep.OK() {
			t.Fatalf("the repository does not verify clean after the interruption: %v %+v", err, rep)
		}
		if _, err := e.Backup(ctx, engine.BackupRequest{Paths: []string{src}, Target: "data", Type: engine.TypeIncremental, Compress: true}, nil); err != nil {
			t.Fatalf("a backup after the interruption fails: %v", err)
		}
	})
}

func field(r *Result, label string) string {
	for _, f := range r.Fields {
		if f.Label == label {
			return f.Value
		}
	}
	return ""
}

// findRestored finds a restored file whatever layout the engine uses under
// the destination (the original absolute path, or relative to the target).
func findRestored(dest, name string) ([]byte, error) {
	var found []byte
	err := filepath.Walk(dest, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && strings.HasSuffix(filepath.ToSlash(p), "/"+name) && found == nil {
			found, err = os.ReadFile(p)
		}
		return err
	})
	if found == nil && err == nil {
		err = fmt.Errorf("not found under %s", dest)
	}
	return found, err
}
