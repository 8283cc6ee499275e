// Package enginetest is the engine's acceptance suite, parameterised by a
// backend factory so the same tests run against a local directory, S3 and
// Azure: round trips for every backup type, selective restore, dedup,
// encryption, damage detection, concurrency, naming, cleanup and keys.
package enginetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/engine"
)

// Password is the repository password the suite uses.
const Password = "correct horse battery staple"

// Run runs the suite. newBackend must return an empty backend each call
// (a fresh directory, bucket prefix or container); the suite closes it.
func Run(t *testing.T, newBackend func(t *testing.T) backend.Backend) {
	s := &suite{newBackend: newBackend}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"RoundTripFull", func(t *testing.T) { s.roundTrip(t, engine.TypeFull) }},
		{"RoundTripIncremental", func(t *testing.T) { s.roundTrip(t, engine.TypeIncremental) }},
		{"RoundTripDifferential", func(t *testing.T) { s.roundTrip(t, engine.TypeDifferential) }},
		{"SelectiveRestore", s.selectiveRestore},
		{"PreviewWritesNothing", s.preview},
		{"Dedup", s.dedup},
		{"Encryption", s.encryption},
		{"DamageIsNamedByDeepVerify", s.damage},
		{"Unencrypted", s.unencrypted},
		{"ConcurrentBackups", s.concurrent},
		{"Naming", s.naming},
		{"Cleanup", s.cleanup},
		{"PruneBesideBackups", s.pruneBesideBackups},
		{"RepackFreesUnusedSpace", s.repack},
		{"Keys", s.keys},
		{"VerifyFixRebuildsIndex", s.fixIndex},
		{"NoRepositoryOverARepository", s.configMissing},
		{"KeyFileDamageIsNotAWrongPassword", s.keyDamage},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.fn)
	}
}

type suite struct {
	newBackend func(t *testing.T) backend.Backend
}

func (s *suite) backend(t *testing.T) backend.Backend {
	b := s.newBackend(t)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func open(t *testing.T, b backend.Backend, password string) *engine.Engine {
	t.Helper()
	e, err := engine.Open(context.Background(), b, engine.OpenOptions{Password: password, Create: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func backup(t *testing.T, e *engine.Engine, req engine.BackupRequest) *engine.BackupResult {
	t.Helper()
	if req.Target == "" {
		req.Target = "data"
	}
	res, err := e.Backup(context.Background(), req, nil)
	if err != nil {
		t.Fatalf("Backup(%s of %v): %v", req.Type, req.Paths, err)
	}
	if len(res.Warnings) > 0 {
		t.Fatalf("Backup warnings: %v", res.Warnings)
	}
	return res
}

func restore(t *testing.T, e *engine.Engine, req engine.RestoreRequest) *engine.RestoreResult {
	t.Helper()
	res, err := e.Restore(context.Background(), req, nil)
	if err != nil {
		t.Fatalf("Restore(%+v): %v", req, err)
	}
	return res
}

func verifyClean(t *testing.T, e *engine.Engine) {
	t.Helper()
	rep, err := e.Verify(context.Background(), engine.VerifyRequest{All: true, Deep: true}, nil)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !rep.OK() {
		t.Fatalf("Verify found problems: %+v", rep.Problems)
	}
}

// repoSize sums the sizes of every object in the backend.
func repoSize(t *testing.T, b backend.Backend) int64 {
	t.Helper()
	var n int64
	if err := b.List(context.Background(), "", func(i backend.Info) error { n += i.Size; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func (s *suite) roundTrip(t *testing.T, typ string) {
	e := open(t, s.backend(t), Password)
	src := filepath.Join(t.TempDir(), "src")
	makeFixture(t, src)
	first := t.TempDir()
	copyTree(t, src, first)

	r1 := backup(t, e, engine.BackupRequest{Paths: []string{src}, Type: engine.TypeFull, Compress: true})
	// Change the tree, then back it up with the type under test.
	write(t, filepath.Join(src, "small.txt"), []byte("changed content"), 0o644)
	write(t, filepath.Join(src, "new dir/new file"), randomBytes(7, 70_000), 0o600)
	if err := os.Remove(filepath.Join(src, "--double")); err != nil {
		t.Fatal(err)
	}
	r2 := backup(t, e, engine.BackupRequest{Paths: []string{src}, Type: typ, Compress: true})
	if r2.Snapshot.Type != typ {
		t.Fatalf("snapshot type %q, want %q", r2.Snapshot.Type, typ)
	}
	if typ != engine.TypeFull {
		if r2.FilesUnchanged == 0 || r2.BytesRead >= r1.BytesRead/2 {
			t.Errorf("%s backup read %d bytes (%d files unchanged); it must skip unchanged files", typ, r2.BytesRead, r2.FilesUnchanged)
		}
	} else if r2.BytesRead < r1.BytesRead {
		t.Errorf("full backup read %d bytes, less than the first (%d): a full backup reads every file", r2.BytesRead, r1.BytesRead)
	}
	if r2.FilesNew != 1 || r2.FilesChanged != 1 {
		t.Errorf("second backup: %d new, %d changed; want 1 and 1", r2.FilesNew, r2.FilesChanged)
	}

	// Each snapshot restores completely on its own.
	for _, c := range []struct {
		ref  string
		want string
	}{{r2.Snapshot.ID, src}, {r1.Snapshot.ID, first}} {
		out := t.TempDir()
		res := restore(t, e, engine.RestoreRequest{Snapshot: c.ref, To: out})
		if res.FilesWritten == 0 {
			t.Fatal("restore wrote no files")
		}
		compareTrees(t, c.want, filepath.Join(out, src))
	}
	verifyClean(t, e)
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	// A backup of the fixture restored elsewhere is the simplest exact copy
	// with metadata; use cp -a, which keeps modes, times and links.
	if err := runCmd("cp", "-a", src+"/.", dst); err != nil {
		t.Fatalf("copying the fixture: %v", err)
	}
}

func (s *suite) selectiveRestore(t *testing.T) {
	e := open(t, s.backend(t), Password)
	base := t.TempDir()
	cfg := filepath.Join(base, "etc", "myapp")
	data := filepath.Join(base, "srv", "data")
	write(t, filepath.Join(cfg, "modules/LabRunner/run.ps1"), []byte("runner"), 0o644)
	write(t, filepath.Join(cfg, "modules/Other/x.ps1"), []byte("other"), 0o644)
	write(t, filepath.Join(cfg, "app.yaml"), []byte("a: 1"), 0o644)
	write(t, filepath.Join(data, "db.bin"), randomBytes(3, 100_000), 0o600)
	backup(t, e, engine.BackupRequest{Paths: []string{cfg}, Target: "config", Compress: true})
	backup(t, e, engine.BackupRequest{Paths: []string{data}, Target: "data", Compress: true})

	cases := []struct {
		name, target, filter string
		want                 []string
		absent               []string
	}{
		{"by target", "config", "", []string{"etc/myapp/app.yaml", "etc/myapp/modules/LabRunner/run.ps1"}, []string{"srv/data/db.bin"}},
		{"other target", "data", "", []string{"srv/data/db.bin"}, []string{"etc/myapp/app.yaml"}},
		{"prefix", "config", "modules/LabRunner", []string{"etc/myapp/modules/LabRunner/run.ps1"}, []string{"etc/myapp/app.yaml", "etc/myapp/modules/Other/x.ps1"}},
		{"glob", "config", "*.yaml", []string{"etc/myapp/app.yaml"}, []string{"etc/myapp/modules/LabRunner/run.ps1"}},
		{"glob on dirs", "config", "modules/*", []string{"etc/myapp/modules/LabRunner/run.ps1", "etc/myapp/modules/Other/x.ps1"}, []string{"etc/myapp/app.yaml"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			restore(t, e, engine.RestoreRequest{Target: c.target, Filter: c.filter, To: out})
			for _, w := range c.want {
				if _, err := os.Stat(filepath.Join(out, base, w)); err != nil {
					t.Errorf("restore lacks %s: %v", w, err)
				}
			}
			for _, a := range c.absent {
				if _, err := os.Stat(filepath.Join(out, base, a)); err == nil {
					t.Errorf("restore has %s, which the selection excludes", a)
				}
			}
		})
	}
	// Restoring to the original paths puts deleted files back.
	if err := os.RemoveAll(filepath.Join(cfg, "modules")); err != nil {
		t.Fatal(err)
	}
	restore(t, e, engine.RestoreRequest{Target: "config"})
	if b, err := os.ReadFile(filepath.Join(cfg, "modules/LabRunner/run.ps1")); err != nil || string(b) != "runner" {
		t.Fatalf("restore to the original paths: %q, %v", b, err)
	}
}

func (s *suite) preview(t *testing.T) {
	e := open(t, s.backend(t), Password)
	src := filepath.Join(t.TempDir(), "src")
	write(t, filepath.Join(src, "same"), []byte("same"), 0o644)
	write(t, filepath.Join(src, "changed"), []byte("before"), 0o644)
	write(t, filepath.Join(src, "gone"), []byte("will be deleted"), 0o644)
	backup(t, e, engine.BackupRequest{Paths: []string{src}})
	write(t, filepath.Join(src, "changed"), []byte("after, longer"), 0o644)
	if err := os.Remove(filepath.Join(src, "gone")); err != nil {
		t.Fatal(err)
	}
	res := restore(t, e, engine.RestoreRequest{Preview: true})
	got := map[string]string{}
	for _, p := range res.Plan {
		got[filepath.Base(p.Path)] = p.Action
	}
	want := map[string]string{"same": engine.ActionUnchanged, "changed": engine.ActionOverwrite, "gone": engine.ActionCreate}
	for name, action := range want {
		if got[name] != action {
			t.Errorf("plan for %s: %q, want %q (plan %v)", name, got[name], action, res.Plan)
		}
	}
	if _, err := os.Stat(filepath.Join(src, "gone")); err == nil {
		t.Fatal("preview restored a file")
	}
	if b, _ := os.ReadFile(filepath.Join(src, "changed")); string(b) != "after, longer" {
		t.Fatal("preview overwrote a file")
	}
}

func (s *suite) dedup(t *testing.T) {
	b := s.backend(t)
	e := open(t, b, Password)
	src := filepath.Join(t.TempDir(), "src")
	big := randomBytes(11, 24<<20)
	write(t, filepath.Join(src, "big.img"), big, 0o644)
	makeFixture(t, filepath.Join(src, "tree"))

	before := repoSize(t, b)
	r1 := backup(t, e, engine.BackupRequest{Paths: []string{src}, Type: engine.TypeFull, Compress: true})
	if grew := repoSize(t, b) - before; grew != r1.BytesAdded {
		t.Errorf("the repository grew by %d bytes, the summary says %d", grew, r1.BytesAdded)
	}
	// A second full backup reads everything and adds almost nothing.
	before = repoSize(t, b)
	r2 := backup(t, e, engine.BackupRequest{Paths: []string{src}, Type: engine.TypeFull, Compress: true})
	grew := repoSize(t, b) - before
	if grew != r2.BytesAdded {
		t.Errorf("the repository grew by %d bytes, the summary says %d", grew, r2.BytesAdded)
	}
	if r2.BytesRead < int64(len(big)) || grew > 64<<10 {
		t.Errorf("second backup read %d and added %d bytes; want everything read and under 64 KiB added", r2.BytesRead, grew)
	}
	// A few bytes changed in the middle of the large file add about one chunk.
	copy(big[12<<20:], "a few changed bytes")
	write(t, filepath.Join(src, "big.img"), big, 0o644)
	before = repoSize(t, b)
	r3 := backup(t, e, engine.BackupRequest{Paths: []string{src}, Compress: true})
	grew = repoSize(t, b) - before
	if grew != r3.BytesAdded {
		t.Errorf("the repository grew by %d bytes, the summary says %d", grew, r3.BytesAdded)
	}
	if grew > 3<<20 {
		t.Errorf("changing 19 bytes of a 24 MiB file added %d bytes; want about one chunk (under 3 MiB)", grew)
	}
	if r3.FilesChanged != 1 || r3.FilesUnchanged == 0 {
		t.Errorf("incremental: %d changed, %d unchanged; want 1 changed and the rest unchanged", r3.FilesChanged, r3.FilesUnchanged)
	}
}

func (s *suite) encryption(t *testing.T) {
	b := s.backend(t)
	e := open(t, b, Password)
	if !e.Encrypted() {
		t.Fatal("a repository created with a password is not encrypted")
	}
	if got := e.Repository().Config().Encryption; got != "aes-256-gcm" {
		t.Fatalf("config encryption = %q, want aes-256-gcm", got)
	}
	src := filepath.Join(t.TempDir(), "src")
	secretName := randomName() + "-secret-file-name.txt"
	secret := []byte("THE PLAINTEXT OF A KNOWN FILE " + randomName())
	write(t, filepath.Join(src, secretName), bytes.Repeat(secret, 100), 0o644)
	backup(t, e, engine.BackupRequest{Paths: []string{src}, Compress: false, RequireEncryption: true})

	err := b.List(context.Background(), "", func(i backend.Info) error {
		rc, err := b.Get(context.Background(), i.Key, 0, -1)
		if err != nil {
			return err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		for _, needle := range [][]byte{secret, []byte(secretName), []byte(randomPart(secretName))} {
			if bytes.Contains(data, needle) {
				t.Errorf("object %s contains the plaintext %q", i.Key, needle)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = engine.Open(context.Background(), b, engine.OpenOptions{Password: "wrong password"})
	if !errors.Is(err, engine.ErrWrongPassword) {
		t.Fatalf("Open with a wrong password: %v; want ErrWrongPassword", err)
	}
	if !strings.Contains(err.Error(), "password") {
		t.Fatalf("the wrong-password error does not say so: %v", err)
	}
	if _, err := engine.Open(context.Background(), b, engine.OpenOptions{}); !errors.Is(err, engine.ErrWrongPassword) {
		t.Fatalf("Open without a password: %v; want an error asking for it", err)
	}
}

func randomPart(name string) string { return strings.SplitN(name, "-", 2)[0] }

func (s *suite) damage(t *testing.T) {
	b := s.backend(t)
	e := open(t, b, Password)
	src := filepath.Join(t.TempDir(), "src")
	write(t, filepath.Join(src, "victim.bin"), randomBytes(5, 3<<20), 0o644)
	write(t, filepath.Join(src, "bystander.txt"), []byte("untouched"), 0o644)
	res := backup(t, e, engine.BackupRequest{Paths: []string{src}, Name: "damaged-one", Compress: true})

	// Flip one byte in the middle of every data pack.
	var packs []backend.Info
	if err := b.List(context.Background(), "data/", func(i backend.Info) error { packs = append(packs, i); return nil }); err != nil {
		t.Fatal(err)
	}
	flipped := 0
	for _, p := range packs {
		rc, err := b.Get(context.Background(), p.Key, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		if len(data) < 1<<20 {
			continue // the tree pack: small
		}
		data[len(data)/3] ^= 0x40
		if err := b.Put(context.Background(), p.Key, bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		flipped++
	}
	if flipped == 0 {
		t.Fatal("found no data pack to damage")
	}
	quick, err := e.Verify(context.Background(), engine.VerifyRequest{All: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !quick.OK() {
		t.Logf("quick verify already reports: %v", quick.Problems)
	}
	rep, err := e.Verify(context.Background(), engine.VerifyRequest{All: true, Deep: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() {
		t.Fatal("deep verify missed a flipped byte")
	}
	named := false
	for _, p := range rep.Problems {
		if strings.HasSuffix(p.File, "/victim.bin") && strings.Contains(p.Snapshot, "damaged-one") {
			named = true
		}
		if strings.HasSuffix(p.File, "bystander.txt") {
			t.Errorf("deep verify blames an intact file: %+v", p)
		}
	}
	if !named {
		t.Fatalf("deep verify does not name the snapshot and the damaged file: %+v", rep.Problems)
	}
	// Restoring the damaged file fails loudly rather than writing garbage.
	out := t.TempDir()
	if _, err := e.Restore(context.Background(), engine.RestoreRequest{Snapshot: res.Snapshot.ID, To: out, Validate: true}, nil); err == nil {
		t.Fatal("restore --validate of a damaged snapshot succeeded")
	}
	if _, err := os.Stat(filepath.Join(out, src, "bystander.txt")); err == nil {
		t.Fatal("restore --validate wrote files before finding the damage")
	}
}

func (s *suite) unencrypted(t *testing.T) {
	b := s.backend(t)
	// Without a password a new repository is refused; only a storage
	// configured with encryption: none (Plaintext) gets a plaintext one.
	if _, err := engine.Open(context.Background(), b, engine.OpenOptions{Create: true}); !errors.Is(err, engine.ErrPasswordRequired) {
		t.Fatalf("creating a repository without a password: %v; want ErrPasswordRequired", err)
	}
	if n := objectCount(t, b); n != 0 {
		t.Fatalf("the refused creation wrote %d objects", n)
	}
	e, err := engine.Open(context.Background(), b, engine.OpenOptions{Create: true, Plaintext: true})
	if err != nil {
		t.Fatalf("Open with Plaintext: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	if e.Encrypted() {
		t.Fatal("a repository created with encryption: none claims to be encrypted")
	}
	if got := e.Repository().Config().Encryption; got != "none" {
		t.Fatalf("config encryption = %q, want none", got)
	}
	src := filepath.Join(t.TempDir(), "src")
	write(t, filepath.Join(src, "f"), []byte("plain"), 0o644)
	_, err = e.Backup(context.Background(), engine.BackupRequest{Paths: []string{src}, Target: "data", RequireEncryption: true}, nil)
	if !errors.Is(err, engine.ErrNotEncrypted) {
		t.Fatalf("a backup that requires encryption into a plaintext repository: %v; want ErrNotEncrypted", err)
	}
	if _, err := engine.Open(context.Background(), b, engine.OpenOptions{Password: Password, Encrypt: true}); !errors.Is(err, engine.ErrNotEncrypted) {
		t.Fatalf("Open with Encrypt on a plaintext repository: %v; want ErrNotEncrypted", err)
	}
	// A password set later does not encrypt it, and opening says so.
	pe, err := engine.Open(context.Background(), b, engine.OpenOptions{Password: Password})
	if err != nil {
		t.Fatalf("Open of a plaintext repository with a password set: %v", err)
	}
	if w := pe.Warnings(); len(w) != 1 || !strings.Contains(w[0], "NOT encrypted") {
		t.Errorf("opening a plaintext repository with a password set warns %q; want one warning that it is NOT encrypted", w)
	}
	_ = pe.Close()
	if _, err := engine.Open(context.Background(), s.backend(t), engine.OpenOptions{Create: true, Encrypt: true}); !errors.Is(err, engine.ErrNotEncrypted) {
		t.Fatalf("creating an encrypted repository without a password: %v; want ErrNotEncrypted", err)
	}
	backup(t, e, engine.BackupRequest{Paths: []string{src}})
	out := t.TempDir()
	restore(t, e, engine.RestoreRequest{To: out})
	if b, err := os.ReadFile(filepath.Join(out, src, "f")); err != nil || string(b) != "plain" {
		t.Fatalf("restore from a plaintext repository: %q %v", b, err)
	}
	verifyClean(t, e)
}

func (s *suite) concurrent(t *testing.T) {
	b := s.backend(t)
	open(t, b, Password) // create the repository
	dirs := []string{filepath.Join(t.TempDir(), "one"), filepath.Join(t.TempDir(), "two")}
	for i, d := range dirs {
		write(t, filepath.Join(d, "shared.bin"), randomBytes(99, 3<<20), 0o644)
		write(t, filepath.Join(d, "own.bin"), randomBytes(uint64(i), 2<<20), 0o644)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(dirs))
	for i, d := range dirs {
		wg.Go(func() {
			e, err := engine.Open(context.Background(), b, engine.OpenOptions{Password: Password})
			if err != nil {
				errs[i] = err
				return
			}
			defer e.Close()
			_, errs[i] = e.Backup(context.Background(), engine.BackupRequest{Paths: []string{d}, Target: filepath.Base(d), Compress: true}, nil)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent backup %d: %v", i, err)
		}
	}
	e := open(t, b, Password)
	for _, d := range dirs {
		out := t.TempDir()
		restore(t, e, engine.RestoreRequest{Target: filepath.Base(d), To: out})
		compareTrees(t, d, filepath.Join(out, d))
	}
	verifyClean(t, e)
}

func (s *suite) naming(t *testing.T) {
	e := open(t, s.backend(t), Password)
	src := filepath.Join(t.TempDir(), "src")
	write(t, filepath.Join(src, "f"), []byte("v1"), 0o644)
	a := backup(t, e, engine.BackupRequest{Paths: []string{src}, Name: "pre-deployment"})
	write(t, filepath.Join(src, "f"), []byte("v2"), 0o644)
	bres := backup(t, e, engine.BackupRequest{Paths: []string{src}, Name: "pre-deployment"})
	unnamed := backup(t, e, engine.BackupRequest{Paths: []string{src}, Target: "config", JobID: "job-42"})

	ctx := context.Background()
	check := func(ref, wantID string) {
		t.Helper()
		got, err := e.Find(ctx, ref)
		if err != nil || got.ID != wantID {
			t.Errorf("Find(%q) = %s, %v; want %s", ref, got.ID, err, wantID)
		}
	}
	check("pre-deployment", bres.Snapshot.ID) // the newest with the name wins
	check(a.Snapshot.ID, a.Snapshot.ID)
	check(a.Snapshot.ID[:10], a.Snapshot.ID)
	check("latest", unnamed.Snapshot.ID)
	if _, err := e.Find(ctx, "no-such-backup"); !errors.Is(err, engine.ErrSnapshotNotFound) {
		t.Errorf("Find of a missing name: %v; want ErrSnapshotNotFound", err)
	}
	if n := unnamed.Snapshot.Name; !strings.HasPrefix(n, "config-") || len(n) != len("config-20060102-150405") {
		t.Errorf("generated name %q; want config-YYYYMMDD-HHMMSS", n)
	}
	again, err := e.Backup(ctx, engine.BackupRequest{Paths: []string{src}, Target: "config", JobID: "job-42"}, nil)
	if err != nil || !again.Reused || again.Snapshot.ID != unnamed.Snapshot.ID {
		t.Errorf("a retried job made another snapshot: %+v, %v", again, err)
	}
	list, err := e.Snapshots(ctx, engine.SnapshotFilter{Name: "pre-deployment"})
	if err != nil || len(list) != 2 || list[0].ID != bres.Snapshot.ID {
		t.Errorf("Snapshots(name) = %d snapshots (%v); want 2, newest first", len(list), err)
	}
	// Restore by time: the newest snapshot at or before the moment.
	out := t.TempDir()
	res := restore(t, e, engine.RestoreRequest{At: a.Snapshot.Time.Add(time.Millisecond), To: out})
	if res.Snapshot.ID != a.Snapshot.ID {
		t.Errorf("restore at a time picked %s; want %s", res.Snapshot.ID, a.Snapshot.ID)
	}
	if got, _ := os.ReadFile(filepath.Join(out, src, "f")); string(got) != "v1" {
		t.Errorf("restore at a time wrote %q; want v1", got)
	}
}

func (s *suite) cleanup(t *testing.T) {
	b := s.backend(t)
	e := open(t, b, Password)
	src := filepath.Join(t.TempDir(), "src")
	var ids []string
	for i := range 4 {
		write(t, filepath.Join(src, "f"), randomBytes(uint64(100+i), 1<<20), 0o644)
		ids = append(ids, backup(t, e, engine.BackupRequest{Paths: []string{src}, Type: engine.TypeFull}).Snapshot.ID)
	}
	dry, err := e.Cleanup(context.Background(), engine.CleanupRequest{OlderThan: time.Nanosecond, KeepMin: 1, DryRun: true})
	if err != nil || len(dry.Removed) != 3 {
		t.Fatalf("dry run: %+v, %v; want 3 to remove", dry, err)
	}
	if list, _ := e.Snapshots(context.Background(), engine.SnapshotFilter{}); len(list) != 4 {
		t.Fatalf("a dry run removed snapshots: %d left", len(list))
	}
	before := repoSize(t, b)
	res, err := e.Cleanup(context.Background(), engine.CleanupRequest{OlderThan: time.Nanosecond, KeepMin: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Removed) != 3 || res.PacksDeleted == 0 || repoSize(t, b) >= before {
		t.Fatalf("cleanup removed %d snapshots and %d packs; the repository went from %d to %d bytes", len(res.Removed), res.PacksDeleted, before, repoSize(t, b))
	}
	out := t.TempDir()
	restore(t, e, engine.RestoreRequest{Snapshot: ids[3], To: out})
	compareTrees(t, src, filepath.Join(out, src))
	verifyClean(t, e)
}

func (s *suite) keys(t *testing.T) {
	b := s.backend(t)
	e := open(t, b, Password)
	id, err := e.AddKey(context.Background(), "second password")
	if err != nil {
		t.Fatal(err)
	}
	e2, err := engine.Open(context.Background(), b, engine.OpenOptions{Password: "second password"})
	if err != nil {
		t.Fatalf("the added password does not open the repository: %v", err)
	}
	e2.Close()
	if err := e.RemoveKey(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := engine.Open(context.Background(), b, engine.OpenOptions{Password: "second password"}); !errors.Is(err, engine.ErrWrongPassword) {
		t.Fatalf("a removed password still opens the repository: %v", err)
	}
	keys, err := e.Keys(context.Background())
	if err != nil || len(keys) != 1 {
		t.Fatalf("Keys = %v, %v; want the one left", keys, err)
	}
	if err := e.RemoveKey(context.Background(), keys[0].ID); err == nil {
		t.Fatal("removing the last key succeeded")
	}
}

func (s *suite) fixIndex(t *testing.T) {
	b := s.backend(t)
	e := open(t, b, Password)
	src := filepath.Join(t.TempDir(), "src")
	write(t, filepath.Join(src, "f"), randomBytes(8, 2<<20), 0o644)
	backup(t, e, engine.BackupRequest{Paths: []string{src}})
	var index []string
	_ = b.List(context.Background(), "index/", func(i backend.Info) error { index = append(index, i.Key); return nil })
	for _, k := range index {
		if err := b.Delete(context.Background(), k); err != nil {
			t.Fatal(err)
		}
	}
	e2 := open(t, b, Password)
	rep, err := e2.Verify(context.Background(), engine.VerifyRequest{All: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() {
		t.Fatal("verify did not notice the lost index")
	}
	rep, err = e2.Verify(context.Background(), engine.VerifyRequest{All: true, Deep: true, Fix: true}, nil)
	if err != nil || !rep.OK() || len(rep.Fixed) == 0 {
		t.Fatalf("verify --fix: %+v, %v; want the index rebuilt from the packs", rep, err)
	}
	e3 := open(t, b, Password)
	out := t.TempDir()
	restore(t, e3, engine.RestoreRequest{To: out})
	compareTrees(t, src, filepath.Join(out, src))
}
