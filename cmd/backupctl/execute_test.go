package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/storage/engine"
	"github.com/backupbot/backupbot/storage/local"
	"github.com/backupbot/backupbot/storage/pack"
	"github.com/backupbot/backupbot/storage/repo"
)

// ctlWorld is a config with one local storage and two targets.
type ctlWorld struct {
	dir, cfg, repo, data, etc string
}

func newCtlWorld(t *testing.T) *ctlWorld {
	t.Helper()
	dir := t.TempDir()
	w := &ctlWorld{dir: dir, cfg: filepath.Join(dir, "backupbot.yaml"), repo: filepath.Join(dir, "repo"),
		data: filepath.Join(dir, "srv", "data"), etc: filepath.Join(dir, "etc", "app")}
	for p, body := range map[string]string{
		filepath.Join(w.data, "db.csv"):           strings.Repeat("id,name\n1,alice\n", 5000),
		filepath.Join(w.data, "blobs", "a b.bin"): "spaces in the name",
		filepath.Join(w.etc, "app.yaml"):          "port: 8080\n",
		filepath.Join(w.etc, "modules", "x.conf"): "x=1\n",
	} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := "storages:\n  local: {type: local, path: " + w.repo + "}\n" +
		"targets:\n  data: {paths: [" + w.data + "]}\n  config: {paths: [" + w.etc + "]}\n"
	if err := os.WriteFile(w.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BACKUPBOT_REPO_PASSWORD", "ctl test password")
	t.Setenv("BACKUPBOT_REPO_PASSWORD_FILE", "")
	return w
}

func (w *ctlWorld) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runContext(context.Background(), append([]string{"--config", w.cfg}, args...), strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// runOK runs backupctl like run and fails the test unless it exits 0;
// it returns stdout.
func (w *ctlWorld) runOK(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := w.run(t, args...)
	if code != exitOK {
		t.Fatalf("backupctl %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// editConfig replaces the first old in w's configuration file with new.
func (w *ctlWorld) editConfig(t *testing.T, old, new string) {
	t.Helper()
	cfg, err := os.ReadFile(w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfg), old) {
		t.Fatalf("the configuration has no %q:\n%s", old, cfg)
	}
	if err := os.WriteFile(w.cfg, []byte(strings.Replace(string(cfg), old, new, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCreateListRestoreVerify(t *testing.T) {
	w := newCtlWorld(t)
	code, out, errOut := w.run(t, "create", "--type", "full", "--target", "all", "--name", "first")
	if code != exitOK {
		t.Fatalf("create: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"backup of 2 targets done", "snapshots:  first, first", "config:", "data:", "new", "added:", "dedup", "compression"} {
		if !strings.Contains(strings.ToLower(out), want) {
			t.Errorf("create summary lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = w.run(t, "--json", "create", "--target", "data")
	if code != exitOK {
		t.Fatalf("create --json: exit %d", code)
	}
	var created struct {
		Data []*engine.BackupResult `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || len(created.Data) != 1 {
		t.Fatalf("create --json printed %q (%v)", out, err)
	}
	if r := created.Data[0]; r.FilesUnchanged != 2 || r.BytesRead != 0 || r.Snapshot.Type != engine.TypeIncremental {
		t.Errorf("second backup: %+v; want an incremental one that read nothing", r)
	}

	code, out, _ = w.run(t, "list", "--size", "--verify")
	// The summary line, the header and the three backups.
	if code != exitOK || strings.Count(out, "\n") != 5 || !strings.Contains(out, "VERIFIED") || strings.Contains(out, "DAMAGED") {
		t.Fatalf("list: exit %d\n%s", code, out)
	}
	code, out, _ = w.run(t, "--json", "list", "--target", "config")
	var listed struct {
		Data []engine.SnapshotInfo `json:"data"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &listed) != nil || len(listed.Data) != 1 || listed.Data[0].Name != "first" {
		t.Fatalf("list --target config --json: exit %d\n%s", code, out)
	}

	to := filepath.Join(w.dir, "restored")
	code, out, errOut = w.run(t, "restore", "--name", "first", "--target", "config", "--filter", "modules", "--to", to)
	if code != exitOK {
		t.Fatalf("restore: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(to, w.etc, "modules", "x.conf")); err != nil {
		t.Errorf("restore --filter modules did not restore modules/x.conf: %v", err)
	}
	if _, err := os.Stat(filepath.Join(to, w.etc, "app.yaml")); err == nil {
		t.Error("restore --filter modules restored app.yaml too")
	}

	if err := os.WriteFile(filepath.Join(w.etc, "app.yaml"), []byte("port: 9090\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ = w.run(t, "restore", "--name", "first", "--target", "config", "--preview")
	if code != exitOK || !strings.Contains(out, "overwrite") || !strings.Contains(out, "nothing was written") {
		t.Fatalf("restore --preview: exit %d\n%s", code, out)
	}
	if b, _ := os.ReadFile(filepath.Join(w.etc, "app.yaml")); string(b) != "port: 9090\n" {
		t.Fatal("a preview changed a file")
	}
	code, _, errOut = w.run(t, "restore", "--name", "first", "--target", "config")
	if code != exitUsage || !strings.Contains(errOut, "--force") {
		t.Fatalf("restore over the original paths without --force: exit %d, %q; want 2 and a hint", code, errOut)
	}
	if code, out, errOut = w.run(t, "restore", "--name", "first", "--target", "config", "--force"); code != exitOK {
		t.Fatalf("restore --force: exit %d\n%s%s", code, out, errOut)
	}
	if b, _ := os.ReadFile(filepath.Join(w.etc, "app.yaml")); string(b) != "port: 8080\n" {
		t.Fatalf("restore --force left %q", b)
	}

	code, out, _ = w.run(t, "verify", "--all", "--deep")
	if code != exitOK || !strings.Contains(out, "no problems found") {
		t.Fatalf("verify: exit %d\n%s", code, out)
	}
}

func TestCtlErrorsAreClear(t *testing.T) {
	w := newCtlWorld(t)
	w.runOK(t, "create", "--target", "data")
	t.Setenv("BACKUPBOT_REPO_PASSWORD", "not the password")
	code, _, errOut := w.run(t, "list")
	if code != exitFailed || !strings.Contains(errOut, "no key file opens with this password") {
		t.Fatalf("wrong password: exit %d, %q", code, errOut)
	}
	code, _, errOut = w.run(t, "restore", "--name", "no-such-backup", "--to", filepath.Join(w.dir, "x"))
	if code != exitFailed {
		t.Fatalf("restore of a missing backup: exit %d, %q", code, errOut)
	}
	// With a configuration file and no password, a new repository is
	// refused with the variables to set; nothing is written.
	t.Setenv("BACKUPBOT_REPO_PASSWORD", "")
	other := filepath.Join(w.dir, "plain")
	code, _, errOut = w.run(t, "create", "--target", "data", "--storage", "local", "--path", other)
	if code != exitFailed || !strings.Contains(errOut, "BACKUPBOT_REPO_PASSWORD") || !strings.Contains(errOut, "encryption: none") {
		t.Fatalf("create into a new repository without a password: exit %d, %q; want exit 1 naming BACKUPBOT_REPO_PASSWORD", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(other, "config")); err == nil {
		t.Fatal("the refused create made a repository")
	}
	// encryption: none on the storage is the one way to a plaintext one.
	plainCfg := filepath.Join(w.dir, "plain.yaml")
	if err := os.WriteFile(plainCfg, []byte("storages:\n  local: {type: local, path: "+other+", encryption: none}\n"+
		"targets:\n  data: {paths: ["+w.data+"]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	plain := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := runContext(context.Background(), append([]string{"--config", plainCfg}, args...), strings.NewReader(""), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	if code, out, errOut := plain("create", "--target", "data"); code != exitOK {
		t.Fatalf("create into a storage with encryption: none: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = plain("create", "--target", "data", "--encrypt")
	if code != exitFailed || !strings.Contains(errOut, "encrypt") {
		t.Fatalf("--encrypt on a storage with encryption: none: exit %d, %q", code, errOut)
	}
	// A password set afterwards does not encrypt it, and the result says so.
	t.Setenv("BACKUPBOT_REPO_PASSWORD", "set too late")
	// (The warning is a field of the result, on stdout, as in chat.)
	code, out, errOut := plain("create", "--target", "data")
	if code != exitOK || !strings.Contains(out, "NOT encrypted") {
		t.Fatalf("a backup into a plaintext repository with a password set: exit %d, %q; want a warning that it is NOT encrypted", code, errOut)
	}
}

// TestSharePathsAreRefusedNotCreated: the reference's
// `--storage network --path "\\nas\backups\aitherzero"` (no SMB storage
// configured) and a drive-letter path are refused as bad input, and no
// directory named after them appears in the working directory.
func TestSharePathsAreRefusedNotCreated(t *testing.T) {
	w := newCtlWorld(t)
	cwd := t.TempDir()
	t.Chdir(cwd)
	for _, args := range [][]string{
		{"create", "--type", "full", "--target", "data", "--storage", "network", "--path", `\\nas\backups\aitherzero`},
		{"create", "--type", "full", "--target", "data", "--path", `\\nas\backups\aitherzero`},
		{"create", "--type", "full", "--target", "data", "--storage", "local", "--path", `D:/Backups/aitherzero`},
		{"list", "--storage", "local", "--path", `smb://nas/backups/x`},
	} {
		code, out, errOut := w.run(t, args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d; want 2\n%s%s", args, code, out, errOut)
			continue
		}
		path := args[len(args)-1]
		if !strings.Contains(errOut, path) {
			t.Errorf("%v: %q does not name the path", args, errOut)
		}
	}
	ents, err := os.ReadDir(cwd)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("a refused path left %q in the working directory", e.Name())
	}
}

// With no configuration file and no password, backupctl uses the same
// generated ./var/repo-password as `make run`: the first command of a
// fresh clone makes it (0600, saying so), the repository is encrypted,
// and later commands open it with the same file.
func TestCtlEmbeddedDefaultsGenerateOnePasswordFile(t *testing.T) {
	t.Setenv("BACKUPBOT_REPO_PASSWORD", "")
	t.Setenv("BACKUPBOT_REPO_PASSWORD_FILE", "")
	t.Chdir(t.TempDir())
	t.Setenv("BACKUPBOT_CONFIG", "")
	if err := os.MkdirAll(filepath.Join("var", "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("var", "data", "f.txt"), []byte("fresh clone"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctl := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := runContext(context.Background(), args, strings.NewReader(""), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	code, out, errOut := ctl("create", "--type", "full", "--target", "data")
	if code != exitOK {
		t.Fatalf("create with the embedded defaults: exit %d\n%s%s", code, out, errOut)
	}
	pw, _ := filepath.Abs(filepath.Join("var", "repo-password"))
	if !strings.Contains(errOut, pw) || !strings.Contains(errOut, "KEEP THIS FILE") {
		t.Errorf("the first command does not say where the generated password is and to keep it: %q", errOut)
	}
	if fi, err := os.Stat(pw); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("generated password file: %v %v; want mode 0600", fi, err)
	}
	cfg, err := os.ReadFile(filepath.Join("var", "repo", "config"))
	if err != nil || !strings.Contains(string(cfg), `"encryption": "aes-256-gcm"`) {
		t.Fatalf("the embedded defaults' repository is not encrypted: %s %v", cfg, err)
	}
	code, out, errOut = ctl("list")
	if code != exitOK || strings.Contains(errOut, "KEEP THIS FILE") {
		t.Fatalf("list with the generated password: exit %d (message again: %v)\n%s%s", code, strings.Contains(errOut, "KEEP"), out, errOut)
	}
}

// With config deleted, create refuses, says what it found and writes
// nothing; verify --fix (with the password) rebuilds config from the key
// files and the old backups restore again.
func TestCtlCreateOverALostConfigRefusesAndVerifyFixRecovers(t *testing.T) {
	w := newCtlWorld(t)
	w.runOK(t, "create", "--type", "full", "--target", "data", "--name", "old")
	if err := os.Remove(filepath.Join(w.repo, "config")); err != nil {
		t.Fatal(err)
	}
	snapshotTree := func() map[string]int64 {
		m := map[string]int64{}
		_ = filepath.Walk(w.repo, func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				m[p] = fi.Size()
			}
			return nil
		})
		return m
	}
	before := snapshotTree()
	code, _, errOut := w.run(t, "create", "--type", "full", "--target", "data")
	if code != exitFailed || !strings.Contains(errOut, "refusing to create a repository") ||
		!strings.Contains(errOut, "1 key file") || !strings.Contains(errOut, "1 snapshot") || !strings.Contains(errOut, "verify --fix") {
		t.Fatalf("create over a lost config: exit %d, %q; want exit 1 saying what it found and how to recover", code, errOut)
	}
	if after := snapshotTree(); len(after) != len(before) {
		t.Fatalf("the refused create changed the repository: %d files before, %d after", len(before), len(after))
	}
	// (What the repair did is in the result, on stdout, as in chat.)
	code, out, errOut := w.run(t, "verify", "--all", "--fix")
	if code != exitOK || !strings.Contains(out, "rebuilt") {
		t.Fatalf("verify --fix: exit %d\n%s%s; want the config rebuilt", code, out, errOut)
	}
	w.runOK(t, "restore", "--name", "old", "--to", filepath.Join(w.dir, "back"))
}

// TestDamagedRepositoryThroughBackupctl loses the packs of a first backup:
// the second backup's restore writes what is intact, lists every lost file
// and exits 1; list --verify flags exactly that backup and exits 1;
// verify --fix, with the sources still there, heals it.
func TestDamagedRepositoryThroughBackupctl(t *testing.T) {
	w := newCtlWorld(t)
	w.runOK(t, "create", "--type", "full", "--target", "data", "--name", "one")
	firstPacks := dataPacks(t, w.repo)
	if err := os.WriteFile(filepath.Join(w.data, "later.txt"), []byte("written after the first backup"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.runOK(t, "create", "--target", "data", "--name", "two")
	w.runOK(t, "create", "--target", "config", "--name", "conf")
	for _, p := range firstPacks {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}

	to := t.TempDir()
	code, out, errOut := w.run(t, "restore", "--name", "two", "--to", to)
	if code != exitFailed || !strings.Contains(out, "LOST") || !strings.Contains(out, "db.csv") || !strings.Contains(errOut, "could not be restored") {
		t.Fatalf("restore of a damaged backup: exit %d; want 1 with the lost files listed\n%s%s", code, out, errOut)
	}
	if b, err := os.ReadFile(filepath.Join(to, w.data, "later.txt")); err != nil || string(b) != "written after the first backup" {
		t.Fatalf("the intact file was not restored: %q, %v\n%s", b, err, out)
	}
	if _, err := os.Stat(filepath.Join(to, w.data, "db.csv")); err == nil {
		t.Fatal("a lost file was written")
	}

	code, out, errOut = w.run(t, "list", "--verify")
	if code != exitFailed {
		t.Fatalf("list --verify of a damaged repository: exit %d\n%s%s", code, out, errOut)
	}
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "one ") || strings.HasPrefix(line, "two "):
			if !strings.Contains(line, "DAMAGED") {
				t.Errorf("list --verify does not flag a backup that lost data: %q", line)
			}
		case strings.HasPrefix(line, "conf "):
			if !strings.Contains(line, "ok") || strings.Contains(line, "DAMAGED") {
				t.Errorf("list --verify flags an intact backup: %q", line)
			}
		}
	}

	code, out, errOut = w.run(t, "verify", "--all", "--fix")
	if code != exitOK || !strings.Contains(out, "re-read the sources") {
		t.Fatalf("verify --fix with the sources present: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut = w.run(t, "list", "--verify"); code != exitOK || strings.Contains(out, "DAMAGED") || strings.Contains(out, "marked damaged") {
		t.Fatalf("list --verify after the repair: exit %d\n%s%s", code, out, errOut)
	}
	to = t.TempDir()
	if code, out, errOut = w.run(t, "restore", "--name", "one", "--to", to); code != exitOK {
		t.Fatalf("restore after the repair: exit %d\n%s%s", code, out, errOut)
	}
	if b, err := os.ReadFile(filepath.Join(to, w.data, "db.csv")); err != nil || len(b) == 0 {
		t.Fatalf("the repaired file was not restored: %v", err)
	}
}

// dataPacks returns the files of the packs that hold file data (not
// directory listings).
func dataPacks(t *testing.T, dir string) []string {
	t.Helper()
	ctx := context.Background()
	b, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.Open(ctx, b, engine.OpenOptions{Password: os.Getenv("BACKUPBOT_REPO_PASSWORD")})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	seen := map[string]bool{}
	var out []string
	e.Repository().Index.Each(func(l repo.Location) {
		k := filepath.Join(dir, filepath.FromSlash(repo.PackKey(l.Pack)))
		if l.Type == pack.DataBlob && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	})
	if len(out) == 0 {
		t.Fatal("no data packs")
	}
	return out
}
