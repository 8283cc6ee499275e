package enginetest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/engine"
	"github.com/backupbot/backupbot/storage/local"
)

// CopyReport is what RunCopy measured, for the test's log and the report.
type CopyReport struct {
	FirstCopyBytes, SecondCopyBytes int64 // destination growth per copy
	SecondCopyNewData               int64 // plaintext of the files the second backup added or changed
}

// RunCopy backs up a tree into a local repository and copies each
// snapshot into every destination (each with its own password, so blob
// IDs differ): the copies hold the snapshots, a second copy moves only
// the new chunks, copying twice is a no-op, a copy stopped midway
// finishes when run again, and once the source repository is deleted
// every copy restores byte for byte on its own.
func RunCopy(t *testing.T, dests map[string]func(t *testing.T) backend.Backend) CopyReport {
	ctx := context.Background()
	srcDir := t.TempDir()
	lb, err := local.New(srcDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lb.Close() })
	src := open(t, lb, Password)

	data := filepath.Join(t.TempDir(), "src")
	makeFixture(t, data)
	first := t.TempDir()
	copyTree(t, data, first)
	r1 := backup(t, src, engine.BackupRequest{Paths: []string{data}, Type: engine.TypeFull, Compress: true, Tags: map[string]string{"k": "v"}})

	type dest struct {
		name string
		e    *engine.Engine
		c1   *engine.CopyResult
	}
	var ds []*dest
	for name, nb := range dests {
		b := nb(t)
		t.Cleanup(func() { _ = b.Close() })
		d := &dest{name: name, e: open(t, b, Password+" for "+name)}
		// The first attempt is stopped as soon as it has walked a
		// directory: it must leave nothing that a rerun trips over.
		cctx, cancel := context.WithCancel(ctx)
		_, err := d.e.Copy(cctx, src, engine.CopyRequest{Snapshot: r1.Snapshot.ID, SourceStorage: "local", JobID: "copy-1"},
			func(p engine.Progress) {
				if p.Phase == engine.PhaseCopy {
					cancel()
				}
			})
		cancel()
		if err == nil {
			t.Fatalf("%s: a copy cancelled midway reported success", name)
		}
		if snaps, err := d.e.Snapshots(ctx, engine.SnapshotFilter{}); err != nil || len(snaps) != 0 {
			t.Fatalf("%s: after a cancelled copy the destination lists %d snapshots (%v); want none", name, len(snaps), err)
		}
		d.c1, err = d.e.Copy(ctx, src, engine.CopyRequest{Snapshot: r1.Snapshot.ID, SourceStorage: "local", JobID: "copy-1"}, nil)
		if err != nil {
			t.Fatalf("%s: copy after the cancelled one: %v", name, err)
		}
		s := d.c1.Snapshot
		if s.ID == r1.Snapshot.ID {
			t.Errorf("%s: the copy has the source's snapshot ID; the destination's key must give it its own", name)
		}
		if s.Name != r1.Snapshot.Name || !s.Time.Equal(r1.Snapshot.Time) || s.Target != r1.Snapshot.Target ||
			s.Type != r1.Snapshot.Type || s.Tags["k"] != "v" || s.Files != r1.Snapshot.Files || s.Size != r1.Snapshot.Size {
			t.Errorf("%s: copy %+v does not keep the source's name, time, target, type, tags and counts (%+v)", name, s, r1.Snapshot)
		}
		if s.Origin == nil || s.Origin.Snapshot != r1.Snapshot.ID || s.Origin.Storage != "local" {
			t.Errorf("%s: copy origin %+v; want snapshot %s of storage local", name, s.Origin, r1.Snapshot.ID)
		}
		again, err := d.e.Copy(ctx, src, engine.CopyRequest{Snapshot: r1.Snapshot.Name, SourceStorage: "local"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !again.Reused || again.Snapshot.ID != s.ID || again.BytesWritten != 0 || again.BytesRead != 0 {
			t.Errorf("%s: copying the same snapshot again: reused=%v id=%s read=%d written=%d; want a no-op returning %s",
				name, again.Reused, again.Snapshot.ID, again.BytesRead, again.BytesWritten, s.ID)
		}
		ds = append(ds, d)
	}

	// A second backup adds one file and changes another.
	added := randomBytes(99, 3<<20)
	write(t, filepath.Join(data, "new dir/added.bin"), added, 0o600)
	changed := []byte("changed content")
	write(t, filepath.Join(data, "small.txt"), changed, 0o644)
	second := t.TempDir()
	copyTree(t, data, second)
	r2 := backup(t, src, engine.BackupRequest{Paths: []string{data}, Type: engine.TypeIncremental, Compress: true})
	rep := CopyReport{SecondCopyNewData: int64(len(added) + len(changed))}
	for _, d := range ds {
		c2, err := d.e.Copy(ctx, src, engine.CopyRequest{SourceStorage: "local", Target: "data"}, nil)
		if err != nil {
			t.Fatalf("%s: second copy: %v", d.name, err)
		}
		if c2.Source.ID != r2.Snapshot.ID {
			t.Fatalf("%s: the second copy (latest of target data) copied %s; want %s", d.name, c2.Source.ID, r2.Snapshot.ID)
		}
		if c2.Snapshot.Parent != d.c1.Snapshot.ID {
			t.Errorf("%s: the second copy's parent is %q; want the first copy %s", d.name, c2.Snapshot.Parent, d.c1.Snapshot.ID)
		}
		// Only the chunks of the added and changed files travel (and the
		// listings on their way): neither their data nor what was read
		// from the source may come near the first copy's.
		if c2.BytesCopied > rep.SecondCopyNewData+64<<10 || c2.BytesRead > rep.SecondCopyNewData+64<<10 {
			t.Errorf("%s: second copy read %d and copied %d bytes of data; only the %d new bytes should travel",
				d.name, c2.BytesRead, c2.BytesCopied, rep.SecondCopyNewData)
		}
		if c2.BytesCopied < int64(len(added)) {
			t.Errorf("%s: second copy copied %d bytes of data; the added file alone has %d", d.name, c2.BytesCopied, len(added))
		}
		t.Logf("%s: first copy wrote %d bytes (%d blobs, %d read from the source); second copy wrote %d bytes (%d blobs copied, %d already there, %d read; %d bytes of new file data)",
			d.name, d.c1.BytesWritten, d.c1.BlobsCopied, d.c1.BytesRead, c2.BytesWritten, c2.BlobsCopied, c2.BlobsPresent, c2.BytesRead, rep.SecondCopyNewData)
		rep.FirstCopyBytes, rep.SecondCopyBytes = d.c1.BytesWritten, c2.BytesWritten
	}

	// The source storage goes away; each copy stands on its own.
	_ = src.Close()
	if err := os.RemoveAll(srcDir); err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		verifyClean(t, d.e)
		// The first copy by its ID: two backups in one second share a name.
		for _, c := range []struct{ ref, want string }{{d.c1.Snapshot.ID, first}, {"latest", second}} {
			out := t.TempDir()
			res := restore(t, d.e, engine.RestoreRequest{Snapshot: c.ref, To: out})
			if res.FilesWritten == 0 || len(res.Lost) > 0 {
				t.Fatalf("%s: restore of %s wrote %d files, lost %v", d.name, c.ref, res.FilesWritten, res.Lost)
			}
			compareTrees(t, c.want, filepath.Join(out, data))
		}
	}
	return rep
}
