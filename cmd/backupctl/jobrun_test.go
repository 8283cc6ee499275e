package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/storage/engine"
)

func TestExportTarSplitWithChecksums(t *testing.T) {
	w := newCtlWorld(t)
	w.runOK(t, "create", "--type", "full", "--target", "data", "--name", "first")
	dest := filepath.Join(w.dir, "exports")
	const partSize = 20_000
	code, out, errOut := w.run(t, "export", "--name", "first", "--format", "tar", "--split", "20KB", "--checksum", "--destination", dest)
	if code != exitOK {
		t.Fatalf("export: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "Exported first") || !strings.Contains(out, "Files:") {
		t.Errorf("export printed no summary and fields:\n%s", out)
	}

	parts, err := filepath.Glob(filepath.Join(dest, "*.tar.part[0-9][0-9][0-9]"))
	if err != nil || len(parts) < 3 {
		t.Fatalf("export --split 20KB of an 80 kB backup made parts %v (%v); want at least 3 named NAME.tar.part001...", parts, err)
	}
	var whole bytes.Buffer
	for i, p := range parts {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if last := i == len(parts)-1; (!last && len(b) != partSize) || (last && (len(b) == 0 || len(b) > partSize)) {
			t.Errorf("part %s is %d bytes; want %d (the last one at most that)", filepath.Base(p), len(b), partSize)
		}
		if !strings.Contains(out, p) {
			t.Errorf("the output does not name the part %s:\n%s", p, out)
		}
		whole.Write(b)
	}
	// NAME.tar.sha256 has one line per part, NAME.tar.joined.sha256 one for
	// the joined archive (both in sha256sum format).
	check := func(pattern string, lines int, data func(name string) []byte) {
		sums, err := os.ReadFile(filepath.Join(dest, mustGlobOne(t, dest, pattern)))
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Split(strings.TrimSpace(string(sums)), "\n")
		if len(got) != lines {
			t.Fatalf("%s has %d lines; want %d:\n%s", pattern, len(got), lines, sums)
		}
		for _, line := range got {
			sum, name, ok := strings.Cut(line, "  ")
			if !ok {
				t.Fatalf("checksum line %q is not in sha256sum format", line)
			}
			if got := sha256.Sum256(data(name)); hex.EncodeToString(got[:]) != sum {
				t.Errorf("%s: sha256 %x, %s says %s", name, got, pattern, sum)
			}
		}
	}
	check("*.tar.sha256", len(parts), func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dest, name))
		if err != nil {
			t.Fatalf("the checksum file names %s: %v", name, err)
		}
		return b
	})
	check("*.tar.joined.sha256", 1, func(name string) []byte {
		if !strings.HasSuffix(name, ".tar") {
			t.Errorf("the joined manifest names %s; want the .tar", name)
		}
		return whole.Bytes()
	})

	// The joined parts are a tar holding the backed-up files.
	tr := tar.NewReader(&whole)
	found := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the joined parts are not a tar archive: %v", err)
		}
		if strings.HasSuffix(h.Name, "srv/data/db.csv") {
			body, _ := io.ReadAll(tr)
			found = string(body) == strings.Repeat("id,name\n1,alice\n", 5000)
		}
	}
	if !found {
		t.Error("the exported archive lacks srv/data/db.csv with its content")
	}
	if left, _ := filepath.Glob(filepath.Join(dest, ".*")); len(left) != 0 {
		t.Errorf("export left scratch or temp files behind: %v", left)
	}
}

func mustGlobOne(t *testing.T, dir, pattern string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil || len(m) != 1 {
		t.Fatalf("want one %s in %s, found %v (%v)", pattern, dir, m, err)
	}
	return filepath.Base(m[0])
}

func TestAnalyzeNamesTheSnapshot(t *testing.T) {
	w := newCtlWorld(t)
	w.runOK(t, "create", "--type", "full", "--target", "data", "--name", "nightly")
	code, out, errOut := w.run(t, "analyze", "--name", "nightly", "--performance")
	if code != exitOK {
		t.Fatalf("analyze: exit %d\n%s%s", code, out, errOut)
	}
	summary, _, _ := strings.Cut(out, "\n")
	if !strings.Contains(summary, "Backup nightly") || !strings.Contains(summary, "2 files") {
		t.Errorf("analyze summary %q does not describe backup nightly", summary)
	}
	for _, want := range []string{"Dedup", "Throughput", "Target:"} {
		if !strings.Contains(out, want) {
			t.Errorf("analyze output lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = w.run(t, "--json", "analyze")
	var res jobs.Result
	if code != exitOK || json.Unmarshal([]byte(out), &res) != nil || !strings.Contains(res.Summary, "nightly") || len(res.Data) == 0 {
		t.Fatalf("analyze --json: exit %d\n%s", code, out)
	}

	code, _, errOut = w.run(t, "analyze", "--name", "no-such-backup")
	if code != exitFailed || !strings.Contains(errOut, "no-such-backup") {
		t.Errorf("analyze of a missing backup: exit %d, %q; want 1 and the name", code, errOut)
	}
}

func TestSnapshotStorageAppearsInList(t *testing.T) {
	w := newCtlWorld(t)
	code, out, errOut := w.run(t, "snapshot", "--resource", "storage", "--name", "pre-upgrade")
	if code != exitOK {
		t.Fatalf("snapshot: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "Snapshot (storage)") {
		t.Errorf("snapshot summary:\n%s", out)
	}
	code, out, _ = w.run(t, "--json", "list")
	var listed struct {
		Data []engine.SnapshotInfo `json:"data"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &listed) != nil {
		t.Fatalf("list --json: exit %d\n%s", code, out)
	}
	targets := map[string]bool{}
	rows := listed.Data
	for _, r := range rows {
		if r.Name == "pre-upgrade" && r.Tags["snapshot"] == "storage" {
			targets[r.Target] = true
		}
	}
	if !targets["data"] || !targets["config"] || len(rows) != 2 {
		t.Errorf("after snapshot --resource storage, list shows %+v; want one snapshot of each target (data, config)", rows)
	}
}

func TestJobActionsExitCodes(t *testing.T) {
	w := newCtlWorld(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"snapshot", "--resource", "vm"}, exitUsage, "hypervisor"},
		{[]string{"snapshot", "--resource", "database"}, exitUsage, "no databases are configured"},
		{[]string{"analyze", "--storage", "s3"}, exitUsage, "no s3 storage is configured"},
		{[]string{"export", "--name", "first", "--storage", "azure"}, exitUsage, "no azure storage is configured"},
		// Nothing backed up yet: the work fails, the input was fine.
		{[]string{"export", "--name", "first", "--destination", filepath.Join(w.dir, "out")}, exitFailed, "storage local"},
		{[]string{"schedule"}, exitFailed, "needs the backupbot service"},
	} {
		code, _, errOut := w.run(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("backupctl %s: exit %d, %q; want exit %d and %q", strings.Join(tc.args, " "), code, errOut, tc.code, tc.want)
		}
	}
}
