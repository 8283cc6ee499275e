package enginetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/crypto"
	"github.com/backupbot/backupbot/storage/engine"
	"github.com/backupbot/backupbot/storage/repo"
)

// RunDamage runs the damage suite: each kind of damage a repository can
// suffer (a flipped byte, a truncated, deleted or zero-filled pack, damaged
// or lost index files, damaged snapshot files, a damaged directory
// listing) is done to a small repository of two snapshots, and then:
// verify names the affected snapshots and files; every snapshot restores
// all its intact files and names exactly the lost ones; list, create and
// cleanup keep working; with the source still present verify --fix makes
// the repository verify clean and every snapshot restore byte for byte;
// with the source gone, verify --fix marks exactly the lost files and
// everything else restores. newBackend is as for Run.
func RunDamage(t *testing.T, newBackend func(t *testing.T) backend.Backend) {
	s := &suite{newBackend: newBackend}
	t.Run("NoBackupDedupsOntoDamage", func(t *testing.T) {
		t.Parallel()
		s.noDedupOntoDamage(t)
	})
	t.Run("NextBackupHealsALostIndex", func(t *testing.T) {
		t.Parallel()
		s.backupHealsIndex(t)
	})
	for _, dc := range damageCases {
		t.Run(dc.name, func(t *testing.T) {
			t.Parallel() // each case has its own repository; the work waits on storage
			t.Run("SourceKept", func(t *testing.T) { s.damageCase(t, dc, true) })
			t.Run("SourceGone", func(t *testing.T) { s.damageCase(t, dc, false) })
		})
	}
}

// damaged is what a case did: the blobs it destroyed, the snapshot files
// it destroyed, and whether it damaged the index.
type damaged struct {
	blobs     map[repo.ID]bool
	snapshots map[string]bool // snapshot IDs
	index     bool
}

type damageCase struct {
	name string
	do   func(t *testing.T, f *damageFixture) damaged
}

var damageCases = []damageCase{
	{"FlippedByteInDataPack", func(t *testing.T, f *damageFixture) damaged {
		// The one chunk of old/a2.bin, which both snapshots hold.
		id := f.chunkOf(t, "old/a2.bin")
		loc := f.loc(t, id)
		f.edit(t, repo.PackKey(loc.Pack), func(b []byte) []byte { b[loc.Offset+loc.Length/2] ^= 0x20; return b })
		return damaged{blobs: map[repo.ID]bool{id: true}}
	}},
	{"TruncatedPack", func(t *testing.T, f *damageFixture) damaged {
		// The second snapshot's data pack, cut in its last blob.
		p := f.loc(t, f.chunkOf(t, "new/b1.bin")).Pack
		blobs := f.blobsIn(p)
		last := blobs[len(blobs)-1]
		cut := int64(last.Offset) + int64(last.Length)/2
		f.edit(t, repo.PackKey(p), func(b []byte) []byte { return b[:cut] })
		bad := map[repo.ID]bool{}
		for _, b := range blobs {
			if int64(b.Offset)+int64(b.Length) > cut {
				bad[b.ID] = true
			}
		}
		return damaged{blobs: bad}
	}},
	{"DeletedPack", func(t *testing.T, f *damageFixture) damaged {
		// The first snapshot's data pack: old/ and keep/ in both snapshots.
		p := f.loc(t, f.chunkOf(t, "old/a1.bin")).Pack
		if err := f.b.Delete(context.Background(), repo.PackKey(p)); err != nil {
			t.Fatal(err)
		}
		return damaged{blobs: f.allIn(p)}
	}},
	{"ZeroFilledPack", func(t *testing.T, f *damageFixture) damaged {
		p := f.loc(t, f.chunkOf(t, "new/b1.bin")).Pack
		f.edit(t, repo.PackKey(p), func(b []byte) []byte { return make([]byte, len(b)) })
		return damaged{blobs: f.allIn(p)}
	}},
	{"FlippedByteInIndexFile", func(t *testing.T, f *damageFixture) damaged {
		k := f.keys(t, "index/")[0]
		f.edit(t, k, func(b []byte) []byte { b[len(b)/2] ^= 1; return b })
		return damaged{index: true}
	}},
	{"ZeroedIndexFile", func(t *testing.T, f *damageFixture) damaged {
		k := f.keys(t, "index/")[1]
		f.edit(t, k, func(b []byte) []byte { return make([]byte, len(b)) })
		return damaged{index: true}
	}},
	{"AllIndexFilesDeleted", func(t *testing.T, f *damageFixture) damaged {
		for _, k := range f.keys(t, "index/") {
			if err := f.b.Delete(context.Background(), k); err != nil {
				t.Fatal(err)
			}
		}
		return damaged{index: true}
	}},
	{"FlippedByteInSnapshotFile", func(t *testing.T, f *damageFixture) damaged {
		id := f.snaps[0].id
		f.edit(t, "snapshots/"+id, func(b []byte) []byte { b[len(b)/3] ^= 0x80; return b })
		return damaged{snapshots: map[string]bool{id: true}}
	}},
	{"TruncatedSnapshotFile", func(t *testing.T, f *damageFixture) damaged {
		id := f.snaps[1].id
		f.edit(t, "snapshots/"+id, func(b []byte) []byte { return b[:len(b)/2] })
		return damaged{snapshots: map[string]bool{id: true}}
	}},
	{"DamagedTreePack", func(t *testing.T, f *damageFixture) damaged {
		// The listing of new/, which only the second snapshot has.
		id := f.snaps[1].trees[path.Join(f.src, "new")]
		loc := f.loc(t, id)
		f.edit(t, repo.PackKey(loc.Pack), func(b []byte) []byte { b[loc.Offset+loc.Length/2] ^= 0x04; return b })
		return damaged{blobs: map[repo.ID]bool{id: true}}
	}},
}

// snapModel is what one snapshot holds, read before any damage.
type snapModel struct {
	id, name string
	files    map[string][]repo.ID // file path → chunks
	trees    map[string]repo.ID   // directory path → listing
	copyDir  string               // the source as it was, for comparing
}

type damageFixture struct {
	b     backend.Backend
	src   string
	snaps []*snapModel
	index *repo.Index
}

func (f *damageFixture) chunkOf(t *testing.T, rel string) repo.ID {
	t.Helper()
	c := f.snaps[1].files[filepath.Join(f.src, rel)]
	if len(c) != 1 {
		t.Fatalf("%s has %d chunks; the fixture wants one", rel, len(c))
	}
	return c[0]
}

func (f *damageFixture) loc(t *testing.T, id repo.ID) repo.Location {
	t.Helper()
	l, ok := f.index.Lookup(id)
	if !ok {
		t.Fatalf("blob %s is not indexed", id.Short())
	}
	return l
}

// blobsIn lists a pack's blobs by offset.
func (f *damageFixture) blobsIn(p repo.ID) []repo.Location {
	var out []repo.Location
	f.index.Each(func(l repo.Location) {
		if l.Pack == p {
			out = append(out, l)
		}
	})
	slices.SortFunc(out, func(a, b repo.Location) int { return int(a.Offset) - int(b.Offset) })
	return out
}

func (f *damageFixture) allIn(p repo.ID) map[repo.ID]bool {
	out := map[repo.ID]bool{}
	for _, l := range f.blobsIn(p) {
		out[l.ID] = true
	}
	return out
}

func (f *damageFixture) keys(t *testing.T, prefix string) []string {
	t.Helper()
	var out []string
	if err := f.b.List(context.Background(), prefix, func(i backend.Info) error { out = append(out, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("no objects under %s", prefix)
	}
	slices.Sort(out)
	return out
}

// edit rewrites one stored object.
func (f *damageFixture) edit(t *testing.T, key string, fn func([]byte) []byte) {
	t.Helper()
	ctx := context.Background()
	rc, err := f.b.Get(ctx, key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	data = fn(data)
	if err := f.b.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
}

// lost is what a snapshot can no longer give back: every directory whose
// listing is destroyed (nothing below it can be named) and every other
// file with a destroyed chunk. Paths of directories end in "/".
func (m *snapModel) lost(d damaged) map[string]bool {
	out := map[string]bool{}
	var deadDirs []string
	for dir, id := range m.trees {
		if d.blobs[id] {
			deadDirs = append(deadDirs, dir+"/")
		}
	}
	under := func(p string) bool {
		for _, dd := range deadDirs {
			if strings.HasPrefix(p, dd) && p != dd {
				return true
			}
		}
		return false
	}
	for _, dd := range deadDirs {
		if !under(dd) {
			out[dd] = true
		}
	}
	for p, chunks := range m.files {
		if under(p) {
			continue
		}
		for _, c := range chunks {
			if d.blobs[c] {
				out[p] = true
			}
		}
	}
	return out
}

// model reads a snapshot's trees through the repository.
func model(t *testing.T, e *engine.Engine, info engine.SnapshotInfo, copyDir string) *snapModel {
	t.Helper()
	r := e.Repository()
	id, err := crypto.ParseID(info.ID)
	if err != nil {
		t.Fatal(err)
	}
	sn, err := r.LoadSnapshot(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	m := &snapModel{id: info.ID, name: info.Name, files: map[string][]repo.ID{}, trees: map[string]repo.ID{}, copyDir: copyDir}
	var walk func(id repo.ID, dir string)
	walk = func(id repo.ID, dir string) {
		m.trees[dir] = id
		tr, err := r.LoadTree(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range tr.Nodes {
			p := path.Join(dir, n.FileName())
			switch {
			case n.Type == repo.NodeFile:
				m.files[p] = n.Content
			case n.Subtree != nil:
				walk(*n.Subtree, p)
			}
		}
	}
	walk(sn.Tree, "/")
	return m
}

// newDamageFixture backs up a small tree twice: the second snapshot adds
// new/, so each snapshot has its own data pack and the second shares the
// first's.
func (s *suite) newDamageFixture(t *testing.T) (*damageFixture, *engine.Engine) {
	b := s.backend(t)
	e := open(t, b, Password)
	src := filepath.Join(t.TempDir(), "src")
	write(t, filepath.Join(src, "old/a1.bin"), randomBytes(21, 200<<10), 0o644)
	write(t, filepath.Join(src, "old/a2.bin"), randomBytes(22, 150<<10), 0o644)
	write(t, filepath.Join(src, "old/a3.txt"), []byte("a small file\n"), 0o644)
	write(t, filepath.Join(src, "keep/k1.bin"), randomBytes(23, 100<<10), 0o600)
	write(t, filepath.Join(src, "keep/deeper/k2.txt"), []byte("deeper\n"), 0o644)
	write(t, filepath.Join(src, "empty"), nil, 0o644)
	first := t.TempDir()
	copyTree(t, src, first)
	r1 := backup(t, e, engine.BackupRequest{Paths: []string{src}, Name: "first", Type: engine.TypeFull})
	write(t, filepath.Join(src, "new/b1.bin"), randomBytes(24, 180<<10), 0o644)
	write(t, filepath.Join(src, "new/b2.bin"), randomBytes(25, 120<<10), 0o644)
	write(t, filepath.Join(src, "new/b3.txt"), []byte("new small file\n"), 0o644)
	second := t.TempDir()
	copyTree(t, src, second)
	r2 := backup(t, e, engine.BackupRequest{Paths: []string{src}, Name: "second", Type: engine.TypeIncremental})
	f := &damageFixture{b: b, src: src, index: e.Repository().Index}
	f.snaps = []*snapModel{model(t, e, r1.Snapshot, first), model(t, e, r2.Snapshot, second)}
	return f, e
}

func (s *suite) damageCase(t *testing.T, dc damageCase, keepSource bool) {
	ctx := context.Background()
	f, _ := s.newDamageFixture(t)
	d := dc.do(t, f)
	lost := map[string]map[string]bool{} // snapshot ID → lost paths
	for _, m := range f.snaps {
		if !d.snapshots[m.id] {
			lost[m.id] = m.lost(d)
		}
	}
	anyLost := false
	for _, l := range lost {
		anyLost = anyLost || len(l) > 0
	}
	if len(d.blobs) > 0 && !anyLost {
		t.Fatal("the case destroyed blobs no snapshot uses; the fixture is wrong")
	}

	// A new process opens the damaged repository.
	e := open(t, f.b, Password)

	// Verify names the affected snapshots and files, and no intact file.
	rep, err := e.Verify(ctx, engine.VerifyRequest{All: true, Deep: true}, nil)
	if err != nil {
		t.Fatalf("verify of a damaged repository failed instead of reporting: %v", err)
	}
	if rep.OK() {
		t.Fatal("verify found nothing wrong")
	}
	checkVerifyNames(t, f, rep, lost, d)

	// list --verify flags exactly the snapshots that lost something.
	listing, err := e.List(ctx, engine.ListRequest{Verify: true})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	checkListing(t, f, listing, lost, d)

	// Every readable snapshot restores its intact files and names the rest.
	for _, m := range f.snaps {
		if d.snapshots[m.id] {
			continue
		}
		restoreDamaged(t, e, m, lost[m.id])
	}

	if keepSource {
		// With the sources still here, a repair heals everything.
		fix, err := e.Verify(ctx, engine.VerifyRequest{Fix: true}, nil)
		if err != nil {
			t.Fatalf("verify --fix: %v", err)
		}
		if !fix.OK() {
			t.Fatalf("verify --fix with the sources present left problems: %+v (fixed: %v)", fix.Problems, fix.Fixed)
		}
		e2 := open(t, f.b, Password)
		verifyClean(t, e2)
		for _, m := range f.snaps {
			if d.snapshots[m.id] {
				continue
			}
			out := t.TempDir()
			restore(t, e2, engine.RestoreRequest{Snapshot: m.id, To: out})
			compareTrees(t, m.copyDir, filepath.Join(out, f.src))
		}
		for id := range d.snapshots {
			checkQuarantined(t, e2, "snapshots/"+id)
		}
		createAndCleanup(t, e2, nil)
		return
	}

	// Damage stops nothing that does not need it: a backup of other data
	// and a cleanup go through on the damaged repository.
	createAndCleanup(t, e, d.snapshots)
	if err := os.RemoveAll(f.src); err != nil {
		t.Fatal(err)
	}
	fix, err := e.Verify(ctx, engine.VerifyRequest{Fix: true}, nil)
	if err != nil {
		t.Fatalf("verify --fix: %v", err)
	}
	if fix.OK() != !anyLost {
		t.Fatalf("verify --fix with the sources gone: OK=%v, want %v: %+v", fix.OK(), !anyLost, fix.Problems)
	}
	e2 := open(t, f.b, Password)
	listing, err = e2.List(ctx, engine.ListRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(listing.Notices) > 0 {
		t.Errorf("after verify --fix, list still skips things: %v", listing.Notices)
	}
	for _, m := range f.snaps {
		i := slices.IndexFunc(listing.Snapshots, func(s engine.SnapshotInfo) bool { return s.ID == m.id })
		if d.snapshots[m.id] {
			if i >= 0 {
				t.Errorf("the unreadable snapshot %s is still listed", m.name)
			}
			checkQuarantined(t, e2, "snapshots/"+m.id)
			continue
		}
		if i < 0 {
			t.Fatalf("snapshot %s is no longer listed", m.name)
		}
		got := map[string]bool{}
		for _, l := range listing.Snapshots[i].Lost {
			got[l.Path] = true
		}
		if !mapsEqual(got, lost[m.id]) {
			t.Errorf("snapshot %s is marked with lost files %v, want exactly %v", m.name, keysOf(got), keysOf(lost[m.id]))
		}
		restoreDamaged(t, e2, m, lost[m.id])
	}
	// The repaired repository verifies without any problem but the marked
	// losses.
	rep, err = e2.Verify(ctx, engine.VerifyRequest{All: true, Deep: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Problems {
		if !strings.Contains(p.Detail, "lost for good") && !strings.Contains(p.Detail, "run verify --fix") {
			t.Errorf("after verify --fix, verify still finds: %+v", p)
		}
	}
	if rep.OK() == anyLost {
		t.Errorf("after verify --fix, verify OK=%v, want %v (the marked losses stay problems)", rep.OK(), !anyLost)
	}
}

// checkVerifyNames checks that verify names every lost file with its
// snapshot, every destroyed snapshot file, and no intact file.
func checkVerifyNames(t *testing.T, f *damageFixture, rep *engine.VerifyReport, lost map[string]map[string]bool, d damaged) {
	t.Helper()
	named := map[string]bool{}
	for _, p := range rep.Problems {
		for _, m := range f.snaps {
			if p.Snapshot == m.name+" ("+m.id[:8]+")" && p.File != "" {
				named[m.id+" "+strings.TrimSuffix(p.File, "/")] = true
			}
			if p.Snapshot == m.id[:8] {
				named[m.id] = true
			}
		}
	}
	for id := range d.snapshots {
		if !named[id] {
			t.Errorf("verify does not name the damaged snapshot file %s: %+v", id[:8], rep.Problems)
		}
	}
	for _, m := range f.snaps {
		for p := range lost[m.id] {
			if !named[m.id+" "+strings.TrimSuffix(p, "/")] {
				t.Errorf("verify does not name %s in snapshot %s: %+v", p, m.name, rep.Problems)
			}
		}
		for p := range m.files {
			if !lost[m.id][p] && named[m.id+" "+p] && !underAny(p, lost[m.id]) {
				t.Errorf("verify blames the intact file %s of snapshot %s", p, m.name)
			}
		}
	}
	if d.index {
		// No data is lost: verify still says the index needs a repair and
		// which snapshots depend on it, but blames no file.
		for _, p := range rep.Problems {
			if p.File != "" {
				t.Errorf("with only the index damaged, verify blames a file: %+v", p)
			}
		}
	}
}

func underAny(p string, dirs map[string]bool) bool {
	for d := range dirs {
		if strings.HasSuffix(d, "/") && strings.HasPrefix(p, d) {
			return true
		}
	}
	return false
}

func checkListing(t *testing.T, f *damageFixture, l *engine.Listing, lost map[string]map[string]bool, d damaged) {
	t.Helper()
	for _, m := range f.snaps {
		listed := slices.ContainsFunc(l.Snapshots, func(s engine.SnapshotInfo) bool { return s.ID == m.id })
		if d.snapshots[m.id] {
			if listed {
				t.Errorf("list shows the unreadable snapshot %s", m.name)
			}
			if !slices.ContainsFunc(l.Notices, func(n string) bool { return strings.Contains(n, m.id) && strings.Contains(n, "verify --fix") }) {
				t.Errorf("list does not say it skipped snapshot file %s: %v", m.id[:8], l.Notices)
			}
			continue
		}
		if !listed {
			t.Errorf("list lost the readable snapshot %s", m.name)
			continue
		}
		_, flagged := l.Problems[m.id]
		if flagged != (len(lost[m.id]) > 0) {
			t.Errorf("list --verify flags snapshot %s: %v (%q); it lost %v", m.name, flagged, l.Problems[m.id], keysOf(lost[m.id]))
		}
	}
}

// restoreDamaged restores a snapshot: exactly the lost paths are named,
// nothing of them is written, and every other file comes back whole.
func restoreDamaged(t *testing.T, e *engine.Engine, m *snapModel, lost map[string]bool) {
	t.Helper()
	ctx := context.Background()
	out := t.TempDir()
	res, err := e.Restore(ctx, engine.RestoreRequest{Snapshot: m.id, To: out}, nil)
	if len(lost) == 0 {
		if err != nil {
			t.Fatalf("restore of %s, which lost nothing: %v", m.name, err)
		}
	} else if !errors.Is(err, engine.ErrFilesLost) || res == nil {
		t.Fatalf("restore of %s: %v; want an error wrapping ErrFilesLost with the result", m.name, err)
	}
	got := map[string]bool{}
	for _, l := range res.Lost {
		got[l.Path] = true
		if l.Reason == "" {
			t.Errorf("lost file %s has no reason", l.Path)
		}
	}
	if !mapsEqual(got, lost) {
		t.Errorf("restore of %s names lost %v, want exactly %v", m.name, keysOf(got), keysOf(lost))
	}
	intact := 0
	for p := range m.files {
		dest := filepath.Join(out, p)
		if lost[p] || underAny(p, lost) {
			if _, err := os.Lstat(dest); err == nil {
				t.Errorf("restore of %s wrote the lost file %s", m.name, p)
			}
			continue
		}
		rel, _ := filepath.Rel(filepathSrc(m, p), p)
		want, err := os.ReadFile(filepath.Join(m.copyDir, rel))
		if err != nil {
			t.Fatal(err)
		}
		gotData, err := os.ReadFile(dest)
		if err != nil || !bytes.Equal(gotData, want) {
			t.Errorf("restore of %s: intact file %s not restored whole (%d bytes, want %d, %v)", m.name, p, len(gotData), len(want), err)
		}
		intact++
	}
	if res.FilesWritten < int64(intact) {
		t.Errorf("restore of %s wrote %d files, want at least the %d intact ones", m.name, res.FilesWritten, intact)
	}
	// --validate finds the same losses and writes nothing.
	if len(lost) > 0 {
		vout := t.TempDir()
		vres, err := e.Restore(ctx, engine.RestoreRequest{Snapshot: m.id, To: vout, Validate: true}, nil)
		if !errors.Is(err, engine.ErrFilesLost) || vres == nil || len(vres.Lost) != len(lost) {
			t.Errorf("restore --validate of %s: %v; want the %d lost files named", m.name, err, len(lost))
		}
		if entries, _ := os.ReadDir(vout); len(entries) > 0 {
			t.Errorf("restore --validate of %s wrote files although some are lost", m.name)
		}
	}
}

// filepathSrc returns the source directory a snapshot path lies in (the
// fixture's src: the parent of old/, new/, keep/).
func filepathSrc(m *snapModel, p string) string {
	for d := range m.trees {
		if strings.HasSuffix(d, "/src") && strings.HasPrefix(p, d+"/") {
			return d
		}
	}
	return "/"
}

func checkQuarantined(t *testing.T, e *engine.Engine, key string) {
	t.Helper()
	q, err := e.Repository().Quarantined(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(q, func(i backend.Info) bool { return i.Key == repo.QuarantinePrefix+key }) {
		t.Errorf("%s was not kept in quarantine/: %v", key, q)
	}
}

// createAndCleanup backs up other data, restores it and runs a cleanup;
// both name the unreadable snapshot files they skipped.
func createAndCleanup(t *testing.T, e *engine.Engine, skipped map[string]bool) {
	t.Helper()
	ctx := context.Background()
	other := filepath.Join(t.TempDir(), "other")
	write(t, filepath.Join(other, "o.bin"), randomBytes(uint64(time.Now().UnixNano()), 90<<10), 0o644)
	res, err := e.Backup(ctx, engine.BackupRequest{Paths: []string{other}, Target: "other"}, nil)
	if err != nil {
		t.Fatalf("create on the damaged repository: %v", err)
	}
	out := t.TempDir()
	restore(t, e, engine.RestoreRequest{Snapshot: res.Snapshot.ID, To: out})
	compareTrees(t, other, filepath.Join(out, other))
	cres, err := e.Cleanup(ctx, engine.CleanupRequest{OlderThan: 24 * time.Hour})
	if err != nil {
		t.Fatalf("cleanup on the damaged repository: %v", err)
	}
	for id := range skipped {
		for what, notices := range map[string][]string{"create": res.Notices, "cleanup": cres.Notices} {
			if !slices.ContainsFunc(notices, func(n string) bool { return strings.Contains(n, id) && strings.Contains(n, "verify --fix") }) {
				t.Errorf("%s does not say it skipped the unreadable snapshot file %s: %v", what, id[:8], notices)
			}
		}
	}
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func keysOf(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// noDedupOntoDamage rots a chunk; once a verify has found it, a backup
// (full or not) stores that data again instead of deduplicating onto the
// rotten copy, and its snapshot restores and verifies clean.
func (s *suite) noDedupOntoDamage(t *testing.T) {
	ctx := context.Background()
	f, _ := s.newDamageFixture(t)
	id := f.chunkOf(t, "old/a2.bin")
	loc := f.loc(t, id)
	f.edit(t, repo.PackKey(loc.Pack), func(b []byte) []byte { b[loc.Offset+loc.Length/2] ^= 0x20; return b })
	e := open(t, f.b, Password)
	if rep, err := e.Verify(ctx, engine.VerifyRequest{All: true, Deep: true}, nil); err != nil || rep.OK() {
		t.Fatalf("deep verify of a rotten chunk: %v, %v", rep, err)
	}
	for _, typ := range []string{engine.TypeIncremental, engine.TypeFull} {
		e2 := open(t, f.b, Password) // a later process
		res := backup(t, e2, engine.BackupRequest{Paths: []string{f.src}, Type: typ})
		if res.BlobBytesNew < 150<<10 && typ == engine.TypeIncremental {
			t.Errorf("%s backup after verify found a rotten chunk stored %d new bytes; it must store old/a2.bin again", typ, res.BlobBytesNew)
		}
		rep, err := e2.Verify(ctx, engine.VerifyRequest{Snapshot: res.Snapshot.ID, Deep: true}, nil)
		if err != nil || !rep.OK() {
			t.Fatalf("the %s backup taken after verify found the rot does not verify clean: %+v, %v", typ, rep, err)
		}
		out := t.TempDir()
		restore(t, e2, engine.RestoreRequest{Snapshot: res.Snapshot.ID, To: out})
		compareTrees(t, f.snaps[1].copyDir, filepath.Join(out, f.src))
	}
}

// backupHealsIndex deletes every index file: the next backup of the same
// data stores no file data again (it finds it through the pack headers)
// and leaves an index under which the repository verifies clean.
func (s *suite) backupHealsIndex(t *testing.T) {
	ctx := context.Background()
	f, _ := s.newDamageFixture(t)
	for _, k := range f.keys(t, "index/") {
		if err := f.b.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	e := open(t, f.b, Password)
	res := backup(t, e, engine.BackupRequest{Paths: []string{f.src}, Type: engine.TypeFull})
	if res.BlobBytesNew != 0 {
		t.Errorf("the backup after the index was lost stored %d bytes of file data again; the packs still hold it all", res.BlobBytesNew)
	}
	verifyClean(t, open(t, f.b, Password))
}
