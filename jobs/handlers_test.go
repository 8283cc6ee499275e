package jobs

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/storage"
)

func TestCreateRestoreListAnalyzeThroughTheQueue(t *testing.T) {
	h := newEngineHarness(t, WorkerOptions{})

	ev := h.run(&commands.Create{Type: commands.TypeFull, Target: "data", Name: "pre-deploy", Compress: true,
		Tags: []commands.Tag{{Key: "purpose", Value: "test"}}})
	if !strings.Contains(ev.Result.Summary, "Backup pre-deploy done") || field(ev.Result, "Target") != "data" {
		t.Errorf("create result %+v", ev.Result)
	}
	if kinds := h.events.kinds(ev.Meta.JobID); len(kinds) < 4 || kinds[2] != EventProgress {
		t.Errorf("create events %v: want progress between started and succeeded", kinds)
	}

	// --target all: one snapshot per configured target.
	ev = h.run(&commands.Create{Type: commands.TypeIncremental, Target: "all", Compress: true})
	if !strings.Contains(ev.Result.Summary, "2 targets") {
		t.Errorf("create --target all: %q, want both targets", ev.Result.Summary)
	}
	if n := len(h.snapshots()); n != 3 {
		t.Fatalf("%d snapshots after create data + create all, want 3", n)
	}

	// Preview: the plan, nothing written.
	dest := filepath.Join(t.TempDir(), "restored")
	ev = h.run(&commands.Restore{Name: "pre-deploy", Target: "data", To: dest, Preview: true})
	plan := ev.Result.Plan
	if plan == nil || len(plan.Entries) == 0 || plan.Snapshot == "" {
		t.Fatalf("preview result has no plan: %+v", ev.Result)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Errorf("preview wrote into %s", dest)
	}
	if !strings.Contains(ev.Result.Summary, "nothing was written") || len(plan.Bytes()) == 0 {
		t.Errorf("preview summary %q", ev.Result.Summary)
	}

	// The real restore writes the files back byte for byte.
	ev = h.run(&commands.Restore{Name: "pre-deploy", Target: "data", To: dest})
	if !strings.HasPrefix(ev.Result.Summary, "Restored") {
		t.Errorf("restore summary %q", ev.Result.Summary)
	}
	for name, want := range h.files {
		got, err := findRestored(dest, name)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("restored %s: %v (%d bytes, want %d)", name, err, len(got), len(want))
		}
	}

	ev = h.run(&commands.List{Storage: commands.StorageRef{Name: "all"}, Size: true})
	if !strings.HasPrefix(ev.Result.Summary, "3 backups in local") || !strings.Contains(field(ev.Result, "Backups"), "pre-deploy") {
		t.Errorf("list result %q / %q", ev.Result.Summary, field(ev.Result, "Backups"))
	}
	var rows []listedSnapshot
	if err := json.Unmarshal(ev.Result.Data, &rows); err != nil || len(rows) != 3 {
		t.Errorf("list data: %v, %d rows", err, len(rows))
	}
	ev = h.run(&commands.List{Type: commands.TypeFull})
	if !strings.HasPrefix(ev.Result.Summary, "1 backup in ") {
		t.Errorf("list --type full: %q, want the one full backup", ev.Result.Summary)
	}

	ev = h.run(&commands.Analyze{Name: "pre-deploy", Performance: true})
	if !strings.Contains(ev.Result.Summary, "pre-deploy") || field(ev.Result, "Throughput") == "" {
		t.Errorf("analyze result %+v", ev.Result)
	}

	ev = h.run(&commands.Test{Storage: commands.StorageRef{Name: "local"}})
	if !strings.Contains(ev.Result.Summary, "works") || field(ev.Result, "Write") == "" {
		t.Errorf("test result %+v", ev.Result)
	}
	leftovers, _ := filepath.Glob(filepath.Join(h.repo, "probes", "*"))
	if len(leftovers) != 0 {
		t.Errorf("storage test left %v behind", leftovers)
	}
}

func TestUnknownTargetOrStorageFailsAtOnceWithTheChoices(t *testing.T) {
	h := newEngineHarness(t, WorkerOptions{})
	h.run(&commands.Create{Type: commands.TypeFull, Target: "config", Compress: true})
	for _, tc := range []struct {
		cmd  commands.Command
		want []string
	}{
		{&commands.Create{Target: "nope"}, []string{`unknown target "nope"`, "config, data"}},
		{&commands.Create{Target: "data", Storage: commands.StorageRef{Name: "offsite"}}, []string{`unknown storage "offsite"`, "local"}},
		{&commands.Create{Target: "data", Storage: commands.StorageRef{Name: "azure"}}, []string{"no azure storage is configured"}},
		{&commands.Restore{Name: "never-made", Target: "data"}, []string{"never-made"}},
	} {
		meta := h.enqueue(tc.cmd)
		ev := h.waitFinal(meta.JobID, 20*time.Second)
		if ev.Kind != EventFailed {
			t.Errorf("%s: %s, want failed", tc.cmd.Action(), ev.Kind)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(ev.Error, w) {
				t.Errorf("%s error %q does not mention %q", tc.cmd.Action(), ev.Error, w)
			}
		}
		if st, _ := h.client.Status(context.Background(), meta.JobID); st.Attempt != 1 {
			t.Errorf("%s: %d attempts; a configuration mistake must not be retried", tc.cmd.Action(), st.Attempt)
		}
	}
}

// list --storage all with one storage that cannot be read is a partial
// result naming it, never a plain success.
func TestListAllWithAnUnreadableStorageIsPartial(t *testing.T) {
	h := newEngineHarness(t, WorkerOptions{Concurrency: 1})
	h.run(&commands.Create{Type: commands.TypeFull, Target: "data", Name: "one"})
	broken := filepath.Join(t.TempDir(), "not-a-directory")
	if err := os.WriteFile(broken, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.cfg.Storages["nas"] = storage.Spec{Type: storage.KindNetwork, Path: broken + "/repo"}
	ev := h.run(&commands.List{Storage: commands.StorageRef{Name: "all"}})
	if !ev.Result.Partial || !strings.Contains(ev.Result.Summary, "PARTIAL: nas could not be read") || !strings.Contains(ev.Result.Summary, "1 backup in ") {
		t.Errorf("list --storage all with nas broken: partial=%v %q", ev.Result.Partial, ev.Result.Summary)
	}
	h.cfg.Storages["local"] = storage.Spec{Type: storage.KindLocal, Path: broken + "/other"}
	meta := h.enqueue(&commands.List{Storage: commands.StorageRef{Name: "all"}})
	if ev := h.waitFinal(meta.JobID, 30*time.Second); ev.Kind != EventFailed {
		t.Errorf("list with no storage readable ended %s, want failed", ev.Kind)
	}
}

func TestRetriedCreateMakesOneSnapshot(t *testing.T) {
	// The first attempt makes its snapshot and then "loses" the result (as
	// if the worker crashed right after); the retry must not make another.
	failFirst := func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, j *Job) (*Result, error) {
			res, err := next.Run(ctx, j)
			if err == nil && j.Attempt == 1 {
				return nil, fmt.Errorf("lost connection to Redis after the backup")
			}
			return res, err
		})
	}
	h := newEngineHarness(t, WorkerOptions{Middleware: []Middleware{failFirst}})
	ev := h.run(&commands.Create{Type: commands.TypeFull, Target: "data", Name: "once", Compress: true})
	if ev.Attempt != 2 {
		t.Fatalf("create succeeded on attempt %d, want 2", ev.Attempt)
	}
	if snaps := h.snapshots(); len(snaps) != 1 {
		t.Errorf("%d snapshots after a retried create, want 1", len(snaps))
	}
	if !strings.Contains(ev.Result.Summary, "already made by an earlier attempt") {
		t.Errorf("retried create summary %q: want it to say the snapshot was reused", ev.Result.Summary)
	}
}

func TestExportWritesArchivesWithChecksums(t *testing.T) {
	h := newEngineHarness(t, WorkerOptions{})
	h.run(&commands.Create{Type: commands.TypeFull, Target: "data", Name: "exp", Compress: true})
	dest := t.TempDir()

	ev := h.run(&commands.Export{Name: "exp", Format: commands.FormatTar, Destination: dest, Checksum: true})
	var out struct {
		Files []string `json:"files"`
	}
	if err := json.Unmarshal(ev.Result.Data, &out); err != nil || len(out.Files) != 2 {
		t.Fatalf("export data %s: %v", ev.Result.Data, err)
	}
	archive := out.Files[0]
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(f)
	got := map[string][]byte{}
	for {
		hd, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read %s: %v", archive, err)
		}
		b, _ := io.ReadAll(tr)
		got[hd.Name] = b
	}
	f.Close()
	for name, want := range h.files {
		found := false
		for n, b := range got {
			if strings.HasSuffix(n, "/"+name) && bytes.Equal(b, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("tar export lacks %s", name)
		}
	}
	sums, _ := os.ReadFile(out.Files[1])
	data, _ := os.ReadFile(archive)
	sum := sha256.Sum256(data)
	if !strings.Contains(string(sums), hex.EncodeToString(sum[:])+"  "+filepath.Base(archive)) {
		t.Errorf("checksum file %q does not hold the archive's sha256", sums)
	}

	// zip, split in parts of 1 MB: the joined parts are a valid zip.
	ev = h.run(&commands.Export{Name: "exp", Format: commands.FormatZip, Destination: dest, Split: 1 << 20})
	if err := json.Unmarshal(ev.Result.Data, &out); err != nil || len(out.Files) < 3 {
		t.Fatalf("split export made %v, want several parts of a 3 MB backup", out.Files)
	}
	var joined []byte
	for _, p := range out.Files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 1<<20 {
			t.Errorf("part %s is %d bytes, over the 1 MiB split", p, len(b))
		}
		joined = append(joined, b...)
	}
	zr, err := zip.NewReader(bytes.NewReader(joined), int64(len(joined)))
	if err != nil {
		t.Fatalf("joined parts are not a zip: %v", err)
	}
	if len(zr.File) < len(h.files) {
		t.Errorf("zip holds %d entries, want at least %d", len(zr.File), len(h.files))
	}
	scratch, _ := filepath.Glob(filepath.Join(dest, ".export-*"))
	if len(scratch) != 0 {
		t.Errorf("export left scratch directories %v", scratch)
	}

	// The same export again is refused without --force, and replaces the
	// archive with it.
	meta := h.enqueue(&commands.Export{Name: "exp", Format: commands.FormatTar, Destination: dest, Checksum: true})
	if ev := h.waitFinal(meta.JobID, 10*time.Second); ev.Kind != EventFailed || !strings.Contains(ev.Error, "--force") {
		t.Errorf("export over an existing archive: %s %q, want a refusal naming --force", ev.Kind, ev.Error)
	}
	h.run(&commands.Export{Name: "exp", Format: commands.FormatTar, Destination: dest, Checksum: true, Force: true})
}

func TestSnapshotOfStorageAndDatabase(t *testing.T) {
	h := newEngineHarness(t, WorkerOptions{})
	// A stand-in pg_dump that writes a recognisable dump and records its
	// environment, so the test sees the password went through the env only.
	bin := t.TempDir()
	envOut := filepath.Join(t.TempDir(), "env")
	script := "#!/bin/sh\necho \"PGPASSWORD=$PGPASSWORD ARGS=$*\" > " + envOut + "\necho '-- dump of appdb'\n"
	if err := os.WriteFile(filepath.Join(bin, "pg_dump"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("APPDB_PASSWORD", "s3cret-pw")
	h.cfg.Databases = map[string]config.Database{"app": {Type: "postgres", Name: "appdb", Host: "127.0.0.1", User: "backup", PasswordEnv: "APPDB_PASSWORD"}}

	ev := h.run(&commands.Snapshot{Resource: commands.ResourceDatabase, Name: "compliance", Tags: []commands.Tag{{Key: "purpose", Value: "compliance"}}, Expire: 24})
	if !strings.Contains(ev.Result.Summary, "Snapshot (database)") {
		t.Errorf("snapshot summary %q", ev.Result.Summary)
	}
	rec, _ := os.ReadFile(envOut)
	if !strings.Contains(string(rec), "PGPASSWORD=s3cret-pw") || strings.Contains(string(rec), "ARGS=s3cret") || !strings.Contains(string(rec), "--dbname=appdb") {
		t.Errorf("pg_dump ran as %q: want the password in PGPASSWORD only and the database named", rec)
	}
	snaps := h.snapshots()
	if len(snaps) != 1 || snaps[0].Target != "database-app" || snaps[0].Tags["purpose"] != "compliance" || snaps[0].ExpiresAt.IsZero() {
		t.Errorf("database snapshot %+v: want target database-app, the tags and an expiry", snaps)
	}

	ev = h.run(&commands.Snapshot{Resource: commands.ResourceAll, Name: "everything"})
	if !strings.Contains(field(ev.Result, "vm"), "skipped") {
		t.Errorf("snapshot all should say vm was skipped: %+v", ev.Result.Fields)
	}
	if n := len(h.snapshots()); n != 1+1+2 {
		t.Errorf("%d snapshots after database + all (database, 2 targets), want 4", n)
	}
	meta := h.enqueue(&commands.Snapshot{Resource: commands.ResourceVM, Name: "pre-update"})
	if ev := h.waitFinal(meta.JobID, 10*time.Second); ev.Kind != EventFailed || !strings.Contains(ev.Error, "hypervisor") {
		t.Errorf("vm snapshot: %s %q, want a refusal explaining why", ev.Kind, ev.Error)
	}
}

// TestRestoreTargetAllThroughTheWorker: as a queued job (what chat runs),
// create --target all is one backup set (one time, one set tag) and
// restore --target all --to DIR writes every target of it back, byte for
// byte.
func TestRestoreTargetAllThroughTheWorker(t *testing.T) {
	h := newEngineHarness(t, WorkerOptions{})
	h.run(&commands.Create{Type: commands.TypeFull, Target: "all", Compress: true})
	snaps := h.snapshots()
	if len(snaps) != 2 || snaps[0].Tags[SetTag] == "" || snaps[0].Tags[SetTag] != snaps[1].Tags[SetTag] || !snaps[0].Time.Equal(snaps[1].Time) {
		t.Fatalf("create --target all made %+v; want two snapshots with one set tag and one time", snaps)
	}
	dest := filepath.Join(t.TempDir(), "restored")
	ev := h.run(&commands.Restore{Name: "latest", Target: "all", To: dest})
	if field(ev.Result, "Target") != "config, data" {
		t.Errorf("restore --target all restored targets %q; want config, data", field(ev.Result, "Target"))
	}
	for _, src := range []string{h.data, h.conf} {
		err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			want, _ := os.ReadFile(p)
			got, rerr := os.ReadFile(filepath.Join(dest, p))
			if rerr != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: restored %d bytes (%v), want the source's %d", p, len(got), rerr, len(want))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// A worker with no repository password refuses to create a repository
// (naming the variables to set), at once and for good; a storage with
// encryption: none gets its plaintext repository, and a backup into it
// with a password set warns that it is NOT encrypted.
func TestWorkerRefusesANewRepositoryWithoutAPassword(t *testing.T) {
	h := newEngineTrees(t, 1000)
	var mu sync.Mutex
	cfg, password := h.cfg, ""
	deps := h.deps()
	deps.Config = func() *config.File { mu.Lock(); defer mu.Unlock(); return cfg }
	deps.Password = func(storage.Spec) (string, error) { mu.Lock(); defer mu.Unlock(); return password, nil }
	h.startWorker(deps, WorkerOptions{})

	meta := h.enqueue(&commands.Create{Type: commands.TypeFull, Target: "data"})
	ev := h.waitFinal(meta.JobID, 30*time.Second)
	if ev.Kind != EventFailed || !strings.Contains(ev.Error, "BACKUPBOT_REPO_PASSWORD") || !strings.Contains(ev.Error, "encryption: none") {
		t.Fatalf("create without a password: %s %q; want failed, naming BACKUPBOT_REPO_PASSWORD and encryption: none", ev.Kind, ev.Error)
	}
	if kinds := h.events.kinds(meta.JobID); slices.Contains(kinds, EventRetrying) {
		t.Errorf("the refusal was retried: %v", kinds)
	}
	if _, err := os.Stat(filepath.Join(h.repo, "config")); err == nil {
		t.Fatal("the refused create made a repository")
	}

	plain := testConfig(h.repo, map[string]string{"data": h.data})
	plain.Storages["local"] = storage.Spec{Type: storage.KindLocal, Path: h.repo, Encryption: storage.EncryptionNone}
	mu.Lock()
	cfg = plain
	mu.Unlock()
	ev = h.waitFinal(h.enqueue(&commands.Create{Type: commands.TypeFull, Target: "data"}).JobID, 30*time.Second)
	if ev.Kind != EventSucceeded {
		t.Fatalf("create into a storage with encryption: none: %s %q", ev.Kind, ev.Error)
	}
	mu.Lock()
	password = "set too late"
	mu.Unlock()
	ev = h.waitFinal(h.enqueue(&commands.Create{Type: commands.TypeFull, Target: "data"}).JobID, 30*time.Second)
	if ev.Kind != EventSucceeded || !strings.Contains(field(ev.Result, "⚠️ Warning"), "NOT encrypted") {
		t.Fatalf("a backup into a plaintext repository with a password set: %s, fields %+v; want a warning that it is NOT encrypted", ev.Kind, ev.Result)
	}
}
