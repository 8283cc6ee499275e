package jobs

import (
	"strings"
	"testing"

	"github.com/backupbot/backupbot/storage/engine"
	strepo "github.com/backupbot/backupbot/storage/repo"
)

// A partial backup's result is marked partial, says how many files are
// missing and names them quoted: an escape sequence in a name never
// reaches chat raw.
func TestPartialResultNamesSkippedFilesSafely(t *testing.T) {
	rs := []*engine.BackupResult{{Snapshot: engine.SnapshotInfo{
		ID: "0123456789abcdef", Name: "data-1", Type: "full", Target: "data",
		Partial: true, SkippedCount: 2, Skipped: []strepo.SkippedPath{
			{Path: "/srv/data/secret.db", Error: "open: permission denied"},
			{Path: "/srv/data/evil\x1b[31m\n[reply] forged", Error: "read: input/output error"},
		},
	}}}
	res := backupResult("local", rs)
	partialResult(res, rs)
	if !res.Partial || !strings.Contains(res.Summary, "PARTIAL: 2 files could not be read and are not in the backup") {
		t.Fatalf("result %+v", res)
	}
	if len(res.Fields) == 0 || res.Fields[0].Label != "Skipped" {
		t.Fatalf("no Skipped field first: %+v", res.Fields)
	}
	v := res.Fields[0].Value
	if strings.ContainsAny(v, "\x1b") || strings.Count(v, "\n") != 1 ||
		!strings.Contains(v, "/srv/data/secret.db: open: permission denied") ||
		!strings.Contains(v, `"/srv/data/evil\x1b[31m\n[reply] forged": read: input/output error`) {
		t.Fatalf("skipped field:\n%s", v)
	}

	complete := []*engine.BackupResult{{Snapshot: engine.SnapshotInfo{ID: "0123456789abcdef", Name: "data-2"}}}
	res = backupResult("local", complete)
	partialResult(res, complete)
	if res.Partial || strings.Contains(res.Summary, "PARTIAL") {
		t.Fatalf("a complete backup is reported partial: %+v", res)
	}
}
