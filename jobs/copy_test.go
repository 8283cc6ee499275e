package jobs

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/storage"
	"github.com/backupbot/backupbot/storage/engine"
	"github.com/backupbot/backupbot/storage/retention"
	"github.com/backupbot/backupbot/storage/s3"
	"github.com/backupbot/backupbot/storage/s3/s3test"
)

// copyField is a backup result's field naming a copy job it queued.
var copyField = regexp.MustCompile(`^\S+ to (\w+): job (\w+)$`)

// waitCopies waits for the copy jobs a backup queued (its "Copy" fields,
// "data to usb: job 1a2b3c4d") and returns their final events by storage,
// failing the test unless each succeeded.
func (h *harness) waitCopies(backup Event) map[string]Event {
	h.t.Helper()
	copies := map[string]Event{}
	for _, f := range backup.Result.Fields {
		m := copyField.FindStringSubmatch(f.Value)
		if f.Label != "Copy" || m == nil {
			continue
		}
		ev := h.waitFinal(m[2], 60*time.Second)
		if ev.Kind != EventSucceeded {
			h.t.Fatalf("copy to %s: %s: %s", m[1], ev.Kind, ev.Error)
		}
		copies[m[1]] = ev
	}
	return copies
}

// Issue 15, copies: a target with two copies (a second local disk and
// S3), each repository with its own password. After a backup both hold
// the snapshot; list shows where each backup is and the 3-2-1 line; a
// second backup's copies move only the new chunks; with the primary
// storage deleted, the S3 copy restores byte for byte on its own.
func TestCopiesFollowEachBackup(t *testing.T) {
	srv := s3test.Env(t)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	bucket := s3test.New(t, s3.Options{}).Bucket()

	h := newHarness(t)
	dir := t.TempDir()
	data, primary := filepath.Join(dir, "data"), filepath.Join(dir, "primary")
	files := writeTree(t, data, 3<<20)
	h.cfg = &config.File{
		Storages: map[string]storage.Spec{
			"local":   {Type: storage.KindLocal, Path: primary},
			"usb":     {Type: storage.KindLocal, Path: filepath.Join(dir, "usb")},
			"offsite": {Type: storage.KindS3, Bucket: bucket, Region: srv.Region, Endpoint: srv.Endpoint, PathStyle: true, Prefix: "copies"},
		},
		Targets: map[string]config.Target{"data": {Paths: []string{data}, Copies: []string{"usb", "offsite"}}},
	}
	deps := h.deps()
	deps.Password = func(s storage.Spec) (string, error) { return testRepoPassword + " for " + s.Type + s.Path, nil }
	h.startWorker(deps, WorkerOptions{})

	backupAndCopies := func() (Event, map[string]*engine.CopyResult) {
		t.Helper()
		ev := h.run(&commands.Create{Type: commands.TypeIncremental, Target: "data", Compress: true})
		copies := map[string]*engine.CopyResult{}
		for to, cev := range h.waitCopies(ev) {
			if cev.Meta.Thread != ev.Meta.Thread || cev.Meta.Channel != ev.Meta.Channel {
				t.Errorf("copy job answers in %s/%s; want the backup's %s/%s", cev.Meta.Channel, cev.Meta.Thread, ev.Meta.Channel, ev.Meta.Thread)
			}
			var r engine.CopyResult
			if err := json.Unmarshal(cev.Result.Data, &r); err != nil {
				t.Fatal(err)
			}
			copies[to] = &r
		}
		if len(copies) != 2 || copies["usb"] == nil || copies["offsite"] == nil {
			t.Fatalf("backup result fields %+v: want a copy job to usb and one to offsite", ev.Result.Fields)
		}
		return ev, copies
	}
	_, c1 := backupAndCopies()
	var first engine.SnapshotInfo
	for name, r := range c1 {
		first = r.Source
		if r.Reused || r.BlobsCopied == 0 || r.Snapshot.Origin == nil || r.Snapshot.Origin.Storage != "local" {
			t.Errorf("first copy to %s: %+v; want a new copy recording its origin in local", name, r)
		}
	}

	// list: every backup with where it is; the 3-2-1 line for the target.
	ev := h.run(&commands.List{Storage: commands.StorageRef{Name: "all"}, Target: "data"})
	var rows []listedSnapshot
	if err := json.Unmarshal(ev.Result.Data, &rows); err != nil || len(rows) != 3 {
		t.Fatalf("list --storage all: %v, %d rows; want the backup and its two copies", err, len(rows))
	}
	for _, r := range rows {
		if strings.Join(r.Copies, ", ") != "local, offsite, usb" {
			t.Errorf("list row in %s: copies %v; want local, offsite, usb", r.Storage, r.Copies)
		}
	}
	if b := field(ev.Result, "Backups"); !strings.Contains(b, "COPIES") || !strings.Contains(b, "local, offsite, usb") {
		t.Errorf("list table lacks the copies:\n%s", b)
	}
	if l := field(ev.Result, "3-2-1"); !strings.HasPrefix(l, "data: 3-2-1 met: 3 copies (local, offsite, usb), 2 kinds of media (local disk, object storage), 1 off-site, all fresh") {
		t.Errorf("3-2-1 line %q", l)
	}

	// Copying the same backup on demand again writes nothing.
	ev = h.run(&commands.Copy{Name: first.ID, To: "offsite", Storage: commands.StorageRef{Name: "local"}})
	if !strings.Contains(ev.Result.Summary, "holds a copy of backup") {
		t.Errorf("copy again: %q; want nothing written", ev.Result.Summary)
	}

	// A second backup with one new file: only its chunks travel.
	added := randomBytes(2<<20, 77)
	if err := os.WriteFile(filepath.Join(data, "added.bin"), added, 0o644); err != nil {
		t.Fatal(err)
	}
	files["added.bin"] = added
	_, c2 := backupAndCopies()
	for name, r := range c2 {
		if r.BytesCopied > int64(len(added))+64<<10 || r.BytesCopied < int64(len(added)) {
			t.Errorf("second copy to %s moved %d bytes of data; the new file has %d", name, r.BytesCopied, len(added))
		}
		t.Logf("copy to %s: first %d bytes written (%d chunks), second %d bytes written (%d chunks copied, %d already there; %d bytes of new file data)",
			name, c1[name].BytesWritten, c1[name].BlobsCopied, r.BytesWritten, r.BlobsCopied, r.BlobsPresent, len(added))
	}

	// The primary storage is lost: the S3 copy restores on its own.
	if err := os.RemoveAll(primary); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "restored")
	ev = h.run(&commands.Restore{Name: "latest", Target: "data", To: dest, Storage: commands.StorageRef{Name: "offsite"}})
	for name, want := range files {
		got, err := findRestored(dest, name)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("restored %s from the S3 copy: %v (%d bytes, want %d)", name, err, len(got), len(want))
		}
	}
	// ... and the 3-2-1 line says what is left.
	ev = h.run(&commands.List{Storage: commands.StorageRef{Name: "offsite"}, Target: "data"})
	if l := field(ev.Result, "3-2-1"); !strings.Contains(l, "NOT met: 2 copies (offsite, usb, need 3)") {
		t.Errorf("3-2-1 line after the primary is gone: %q", l)
	}
}

// A copy storage with a retention policy of its own keeps what it says,
// whatever the primary keeps.
func TestCopyStorageKeepsItsOwnRetention(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	writeTree(t, data, 200<<10)
	h.cfg = &config.File{
		Storages: map[string]storage.Spec{
			"primary": {Type: storage.KindLocal, Path: filepath.Join(dir, "primary")},
			"usb":     {Type: storage.KindLocal, Path: filepath.Join(dir, "usb"), Retention: &retention.Policy{Last: 1}},
		},
		Targets: map[string]config.Target{"data": {Paths: []string{data}, Copies: []string{"usb"}}},
	}
	h.startWorker(h.deps(), WorkerOptions{})
	for i := range 3 {
		if err := os.WriteFile(filepath.Join(data, "n.txt"), []byte(strings.Repeat("x", i+1)), 0o644); err != nil {
			t.Fatal(err)
		}
		// Full backups: a kept incremental keeps its parents too.
		h.waitCopies(h.run(&commands.Create{Type: commands.TypeFull, Target: "data", Storage: commands.StorageRef{Name: "primary"}}))
	}
	count := func(st string) int {
		ev := h.run(&commands.List{Storage: commands.StorageRef{Name: st}})
		var rows []listedSnapshot
		if err := json.Unmarshal(ev.Result.Data, &rows); err != nil {
			t.Fatal(err)
		}
		return len(rows)
	}
	for _, st := range []string{"primary", "usb"} {
		ev := h.run(&commands.Cleanup{Storage: commands.StorageRef{Name: st}, Force: true})
		t.Logf("cleanup %s: %s", st, ev.Result.Summary)
	}
	if l, u := count("primary"), count("usb"); l != 3 || u != 1 {
		t.Errorf("after cleanup: %d backups in primary, %d in usb; want 3 (no policy) and 1 (usb keeps the last 1)", l, u)
	}
}
