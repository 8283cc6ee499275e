package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/storage/s3"
	"github.com/backupbot/backupbot/storage/s3/s3test"
)

// exportWorld is a backupctl world with one backup "first" of w.data,
// whose files have fixed, distinct mtimes, a symlink and an empty file.
func exportWorld(t *testing.T) *ctlWorld {
	t.Helper()
	w := newCtlWorld(t)
	if err := os.WriteFile(filepath.Join(w.data, "empty"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("db.csv", filepath.Join(w.data, "link")); err != nil {
		t.Fatal(err)
	}
	// 320 kB that no compressor shrinks, so every format splits into parts.
	var big []byte
	for h := sha256.Sum256([]byte("seed")); len(big) < 320_000; h = sha256.Sum256(h[:]) {
		big = append(big, h[:]...)
	}
	if err := os.WriteFile(filepath.Join(w.data, "blobs", "big.bin"), big, 0o640); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, p := range []string{"db.csv", "empty", "blobs/a b.bin", "blobs/big.bin", "blobs", "."} {
		mt := base.Add(time.Duration(i) * time.Hour)
		if err := os.Chtimes(filepath.Join(w.data, p), mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	w.runOK(t, "create", "--type", "full", "--target", "data", "--name", "first")
	return w
}

// export runs backupctl export and returns the files it reports.
func (w *ctlWorld) export(t *testing.T, args ...string) []string {
	t.Helper()
	code, out, errOut := w.run(t, append([]string{"--json", "export", "--name", "first"}, args...)...)
	if code != exitOK {
		t.Fatalf("export %v: exit %d\n%s%s", args, code, out, errOut)
	}
	var res struct {
		Data struct {
			Files []string `json:"files"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Data.Files) == 0 {
		t.Fatalf("export --json printed %q (%v); want data.files", out, err)
	}
	return res.Data.Files
}

func mustRun(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v in %s: %v\n%s", name, args, dir, err, out)
	}
	return string(out)
}

// sameTree compares the files, symlinks and directories under want and got:
// kinds, contents, link targets, permission bits and file mtimes.
func sameTree(t *testing.T, want, got string) {
	t.Helper()
	list := func(root string) map[string]string {
		m := map[string]string{}
		err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			switch {
			case info.Mode()&os.ModeSymlink != 0:
				l, _ := os.Readlink(p)
				m[rel] = "link " + l
			case info.IsDir():
				m[rel] = "dir"
			default:
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				m[rel] = info.Mode().Perm().String() + " " + info.ModTime().UTC().Format(time.RFC3339) + " " + string(b)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	w, g := list(want), list(got)
	for k, v := range w {
		if g[k] != v {
			short := func(s string) string {
				if len(s) > 80 {
					return s[:80] + "..."
				}
				return s
			}
			t.Errorf("%s: extracted %q, snapshot source %q", k, short(g[k]), short(v))
		}
	}
	for k := range g {
		if _, ok := w[k]; !ok {
			t.Errorf("the archive holds %s, which the source lacks", k)
		}
	}
}

// TestExportFormatsReadBackBySystemTools: tar, zip and 7z exports open
// with the system's tar, unzip and 7z, hold the backed-up tree byte for
// byte, and the same backup exported twice gives the same bytes.
func TestExportFormatsReadBackBySystemTools(t *testing.T) {
	w := exportWorld(t)
	extract := map[string][]string{
		"tar": {"tar", "-xf"},
		"zip": {"unzip", "-q"},
		"7z":  {"7z", "x", "-y", "-bd"},
	}
	for _, format := range []string{"tar", "zip", "7z"} {
		t.Run(format, func(t *testing.T) {
			a, b := t.TempDir(), t.TempDir()
			first := w.export(t, "--format", format, "--destination", a)
			time.Sleep(1100 * time.Millisecond) // the wall clock moves on: it must not show in the bytes
			second := w.export(t, "--format", format, "--destination", b)
			if len(first) != 1 || len(second) != 1 || !strings.HasSuffix(first[0], "."+format) {
				t.Fatalf("exports made %v and %v; want one .%s each", first, second, format)
			}
			x, err := os.ReadFile(first[0])
			if err != nil {
				t.Fatal(err)
			}
			y, err := os.ReadFile(second[0])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(x, y) {
				t.Fatalf("two exports of the same backup differ (%d and %d bytes, sha256 %x and %x)", len(x), len(y), sha256.Sum256(x), sha256.Sum256(y))
			}
			out := t.TempDir()
			mustRun(t, out, extract[format][0], append(extract[format][1:], first[0])...)
			sameTree(t, w.data, filepath.Join(out, strings.TrimPrefix(w.data, "/")))
		})
	}
}

// TestExportSplitRejoinsWithCat: split parts joined with cat are the very
// archive an unsplit export writes, and both manifests pass sha256sum -c.
func TestExportSplitRejoinsWithCat(t *testing.T) {
	w := exportWorld(t)
	for _, format := range []string{"tar", "7z"} {
		t.Run(format, func(t *testing.T) {
			whole := w.export(t, "--format", format, "--destination", t.TempDir())
			dest := t.TempDir()
			files := w.export(t, "--format", format, "--destination", dest, "--split", "20KB", "--checksum")
			name := filepath.Base(whole[0])
			var parts []string
			for _, f := range files {
				if strings.Contains(filepath.Base(f), ".part") && !strings.HasSuffix(f, ".sha256") {
					parts = append(parts, filepath.Base(f))
				}
			}
			sort.Strings(parts)
			if len(parts) < 2 || parts[0] != name+".part001" {
				t.Fatalf("split export made %v; want %s.part001, .part002, ...", files, name)
			}
			mustRun(t, dest, "sha256sum", "-c", name+".sha256")
			mustRun(t, dest, "sh", "-c", "cat "+name+".part* > "+name)
			mustRun(t, dest, "sha256sum", "-c", name+".joined.sha256")
			joined, _ := os.ReadFile(filepath.Join(dest, name))
			want, _ := os.ReadFile(whole[0])
			if !bytes.Equal(joined, want) {
				t.Fatalf("the joined parts (%d bytes) are not the unsplit archive (%d bytes)", len(joined), len(want))
			}
		})
	}
}

// TestExportRefusals: an existing archive is not replaced without --force;
// a URL destination is refused rather than made a local directory; 7z
// without the 7z program is refused when the command is read.
func TestExportRefusals(t *testing.T) {
	w := exportWorld(t)
	dest := t.TempDir()
	files := w.export(t, "--format", "zip", "--destination", dest)
	before, _ := os.ReadFile(files[0])
	if err := os.WriteFile(files[0], []byte("someone else's file"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := w.run(t, "export", "--name", "first", "--format", "zip", "--destination", dest)
	if code != exitUsage || !strings.Contains(errOut, "--force") {
		t.Fatalf("export over an existing archive: exit %d, %q; want exit 2 naming --force", code, errOut)
	}
	if b, _ := os.ReadFile(files[0]); string(b) != "someone else's file" {
		t.Fatal("the refused export changed the existing file")
	}
	w.export(t, "--format", "zip", "--destination", dest, "--force")
	if b, _ := os.ReadFile(files[0]); !bytes.Equal(b, before) {
		t.Fatal("export --force did not replace the file with the archive")
	}

	t.Chdir(w.dir)
	code, _, errOut = w.run(t, "export", "--name", "first", "--destination", "s3://bucket/x")
	if code != exitUsage || !strings.Contains(errOut, "NAME:prefix") {
		t.Errorf("export to s3://bucket/x: exit %d, %q; want exit 2 pointing at NAME:prefix", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(w.dir, "s3:")); err == nil {
		t.Error("export to s3://bucket/x made a local directory s3:")
	}

	t.Setenv("PATH", t.TempDir())
	code, _, errOut = w.run(t, "export", "--name", "first", "--format", "7z", "--destination", dest)
	if code != exitUsage || !strings.Contains(errOut, "7z program") {
		t.Errorf("export --format 7z without 7z: exit %d, %q; want exit 2 saying the program is missing", code, errOut)
	}
}

// TestExportToAConfiguredStorage: --destination offsite:exports/ puts the
// archive and its manifests in the S3 storage, the same bytes as a local
// export.
func TestExportToAConfiguredStorage(t *testing.T) {
	w := exportWorld(t)
	be := w.addOffsite(t)
	local := w.export(t, "--format", "tar", "--destination", t.TempDir())
	name := filepath.Base(local[0])
	code, out, errOut := w.run(t, "export", "--name", "first", "--format", "tar", "--destination", "offsite:exports/", "--checksum")
	if code != exitOK {
		t.Fatalf("export to offsite:exports/: exit %d\n%s%s", code, out, errOut)
	}
	rc, err := be.Get(context.Background(), "exports/"+name, 0, -1)
	if err != nil {
		t.Fatalf("the archive is not in the bucket: %v", err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	want, _ := os.ReadFile(local[0])
	if !bytes.Equal(got, want) {
		t.Fatalf("the archive in S3 (%d bytes) differs from the local export (%d bytes)", len(got), len(want))
	}
	if _, err := be.Stat(context.Background(), "exports/"+name+".sha256"); err != nil {
		t.Errorf("no checksum manifest next to it: %v", err)
	}
	code, _, errOut = w.run(t, "export", "--name", "first", "--format", "tar", "--destination", "offsite:exports/")
	if code != exitUsage || !strings.Contains(errOut, "--force") {
		t.Errorf("a second export to the storage: exit %d, %q; want exit 2 naming --force", code, errOut)
	}
}

// TestVerifyReportWritesFiles: backupctl verify --report writes a Markdown
// report, and with --json a JSON one too, into the working directory.
func TestVerifyReportWritesFiles(t *testing.T) {
	w := newCtlWorld(t)
	w.runOK(t, "create", "--type", "full", "--target", "data", "--name", "first")
	t.Chdir(t.TempDir())
	code, out, errOut := w.run(t, "verify", "--all", "--deep", "--report")
	if code != exitOK || !strings.Contains(out, "report written to verify-report-local-") {
		t.Fatalf("verify --report: exit %d\n%s%s", code, out, errOut)
	}
	md, _ := filepath.Glob("verify-report-local-*.md")
	if len(md) != 1 {
		t.Fatalf("verify --report wrote %v; want one Markdown report", md)
	}
	body, _ := os.ReadFile(md[0])
	for _, want := range []string{"# Verification report: local", "no problems found", "| Snapshots | 1 |", "deep verification"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the report lacks %q:\n%s", want, body)
		}
	}
	w.runOK(t, "--json", "verify", "--all", "--report")
	js, _ := filepath.Glob("verify-report-local-*.json")
	if len(js) != 1 {
		t.Fatalf("--json verify --report wrote %v; want one JSON report", js)
	}
	var rep struct {
		OK     bool `json:"ok"`
		Report struct {
			Snapshots int `json:"snapshots"`
		} `json:"report"`
	}
	data, _ := os.ReadFile(js[0])
	if err := json.Unmarshal(data, &rep); err != nil || !rep.OK || rep.Report.Snapshots != 1 {
		t.Errorf("JSON report %s: %+v, %v", data, rep, err)
	}
}

// addOffsite adds an S3 storage "offsite" (a fresh bucket on the test
// server) to w's configuration, with the server's credentials in the
// environment, and returns the bucket's backend.
func (w *ctlWorld) addOffsite(t *testing.T) *s3.Backend {
	t.Helper()
	srv, be := s3Bucket(t)
	w.editConfig(t, "storages:\n", "storages:\n  offsite: {type: s3, bucket: "+be.Bucket()+", region: "+srv.Region+", endpoint: \""+srv.Endpoint+"\"}\n")
	return be
}

// s3Bucket is the test S3 server, with its credentials in the environment
// (and no AWS configuration files read), and a fresh bucket on it.
func s3Bucket(t *testing.T) (s3test.Server, *s3.Backend) {
	t.Helper()
	srv := s3test.Env(t)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	return srv, s3test.New(t, s3.Options{})
}
