package repo

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/local"
	"github.com/backupbot/backupbot/storage/pack"
)

// localAt returns a local backend in dir.
func localAt(t *testing.T, dir string) *local.Backend {
	t.Helper()
	b, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newLocal returns a local backend in a new temporary directory.
func newLocal(t *testing.T) *local.Backend { return localAt(t, t.TempDir()) }

// newRepoOn creates a repository on b, encrypted when password is set;
// it is closed when the test ends.
func newRepoOn(t *testing.T, b backend.Backend, password string) *Repository {
	t.Helper()
	r, err := Init(context.Background(), b, InitOptions{Password: password, Encrypt: password != ""})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// newRepo is newRepoOn a new local backend.
func newRepo(t *testing.T, password string) *Repository { return newRepoOn(t, newLocal(t), password) }

func TestIndexCodecRoundTrip(t *testing.T) {
	in := []PackEntry{
		{ID: ID{1}, Size: 1234, Blobs: []pack.Blob{{Type: pack.DataBlob, ID: ID{9}, Offset: 0, Length: 100, RawLength: 300, Compressed: true}}},
		{ID: ID{2}, Size: 99, Blobs: []pack.Blob{{Type: pack.TreeBlob, ID: ID{8}, Offset: 5, Length: 6, RawLength: 6}, {ID: ID{7}, Offset: 11, Length: 1}}},
		{ID: ID{3}, Size: 0},
	}
	out, err := decodeIndex(encodeIndex(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("decoded %d packs, want %d", len(out), len(in))
	}
	for i := range in {
		if out[i].ID != in[i].ID || out[i].Size != in[i].Size || len(out[i].Blobs) != len(in[i].Blobs) {
			t.Fatalf("pack %d: %+v, want %+v", i, out[i], in[i])
		}
		for j := range in[i].Blobs {
			if out[i].Blobs[j] != in[i].Blobs[j] {
				t.Fatalf("pack %d blob %d: %+v, want %+v", i, j, out[i].Blobs[j], in[i].Blobs[j])
			}
		}
	}
	if _, err := decodeIndex(encodeIndex(in)[:60]); !errors.Is(err, ErrDamaged) {
		t.Fatalf("a truncated index decoded: %v", err)
	}
}

func TestOpenNeedsTheRightPassword(t *testing.T) {
	r := newRepo(t, "secret")
	ctx := t.Context()
	if _, err := Open(ctx, r.Backend(), "wrong", nil); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := Open(ctx, r.Backend(), "", nil); !errors.Is(err, ErrPasswordRequired) {
		t.Fatalf("no password: %v", err)
	}
	r2, err := Open(ctx, r.Backend(), "secret", nil)
	if err != nil {
		t.Fatal(err)
	}
	r2.Close()
	if _, err := Init(ctx, r.Backend(), InitOptions{Password: "x", Encrypt: true}); !errors.Is(err, ErrExists) {
		t.Fatalf("Init over a repository: %v; want ErrExists", err)
	}
}

func TestLocks(t *testing.T) {
	r := newRepo(t, "")
	ctx := t.Context()
	// lock takes a lock that must be granted, conflict one that must not.
	lock := func(exclusive bool, op, what string) *Lock {
		t.Helper()
		l, err := r.Lock(ctx, exclusive, op)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return l
	}
	conflict := func(exclusive bool, op, what string) {
		t.Helper()
		if _, err := r.Lock(ctx, exclusive, op); !errors.Is(err, ErrLocked) {
			t.Fatalf("%s: %v; want ErrLocked", what, err)
		}
	}
	unlock := func(l *Lock) {
		t.Helper()
		if err := l.Unlock(ctx); err != nil {
			t.Fatal(err)
		}
	}
	shared := lock(false, "backup", "a shared lock on a free repository")
	other := lock(false, "another backup", "two shared locks conflict")
	conflict(true, "cleanup", "an exclusive lock beside shared ones")
	unlock(shared)
	unlock(other)
	excl := lock(true, "cleanup", "exclusive lock on a free repository")
	conflict(false, "backup", "a shared lock beside an exclusive one")
	unlock(excl)

	// Locks left by a crashed process (no such PID here) or not refreshed
	// for long are stale: reported, ignored, breakable.
	host, _ := os.Hostname()
	for _, lf := range []lockFile{
		{lockHolder: lockHolder{Time: time.Now(), Exclusive: true, Host: host, PID: deadPID(t), Op: "crashed cleanup"}},
		{lockHolder: lockHolder{Time: time.Now().Add(-2 * LockStaleAfter), Exclusive: true, Host: "elsewhere", PID: 1, Op: "forgotten"}},
	} {
		if _, err := r.saveJSON(ctx, locksPrefix, lf); err != nil {
			t.Fatal(err)
		}
	}
	locks, err := r.Locks(ctx)
	if err != nil || len(locks) != 2 || !locks[0].Stale || !locks[1].Stale {
		t.Fatalf("Locks = %+v, %v; want two stale locks", locks, err)
	}
	l, err := r.Lock(ctx, true, "cleanup")
	if err != nil {
		t.Fatalf("stale locks blocked an exclusive lock: %v", err)
	}
	_ = l.Unlock(ctx)
	removed, err := r.BreakLocks(ctx, false)
	if err != nil || len(removed) != 2 {
		t.Fatalf("BreakLocks removed %d (%v); want 2", len(removed), err)
	}
}

// deadPID returns a PID that no process has.
func deadPID(t *testing.T) int {
	for pid := 4_000_000; pid > 3_000_000; pid-- {
		if !processAlive(pid) {
			return pid
		}
	}
	t.Fatal("no free PID found")
	return 0
}

// TestSaverWithTinyPacksNeverStalls fills many small packs of both types
// from several goroutines through one upload slot: every blob must be
// stored and indexed, and nothing may deadlock.
func TestSaverWithTinyPacksNeverStalls(t *testing.T) {
	r := newRepo(t, "pw")
	ctx := t.Context()
	s := r.NewSaver(ctx, SaverOptions{PackSize: 2048, Uploads: 1})
	h := r.NewHasher()
	var ids []ID
	for i := range 400 {
		ids = append(ids, h.Sum([]byte{byte(i), byte(i >> 8), 'x'}))
	}
	done := make(chan error, 4)
	for g := range 4 {
		go func() {
			for i := g; i < len(ids); i += 4 {
				typ := pack.DataBlob
				if i%2 == 1 {
					typ = pack.TreeBlob
				}
				if s.Reserve(ids[i]) {
					if _, err := s.Save(typ, ids[i], []byte{byte(i), byte(i >> 8), 'x'}, false); err != nil {
						done <- err
						return
					}
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Blobs != 400 || st.Packs < 2 {
		t.Fatalf("stats %+v; want 400 blobs in several packs", st)
	}
	for _, id := range ids {
		if _, err := r.LoadBlob(ctx, id, nil); err != nil {
			t.Fatalf("blob %s: %v", id.Short(), err)
		}
	}
}

// packsOfBlobs makes n packs of per blobs each, every blob ID distinct.
func packsOfBlobs(n, per int) []PackEntry {
	out := make([]PackEntry, n)
	k := uint64(0)
	for i := range out {
		out[i].ID[0], out[i].ID[1] = byte(i), byte(i>>8)
		out[i].ID[31] = 0xAA
		out[i].Size = 12 << 20
		out[i].Blobs = make([]pack.Blob, per)
		for j := range out[i].Blobs {
			k++
			var id ID
			binary.LittleEndian.PutUint64(id[:], k)
			out[i].Blobs[j] = pack.Blob{Type: pack.DataBlob, ID: id, Offset: uint32(j * 60), Length: 60, RawLength: 60}
		}
	}
	return out
}

// The writer's index files never exceed what the reader decompresses: a
// backup that stores more blobs than one file can list (about 360,000)
// writes several, and every entry reads back. Exactly at the limit it is
// one file; one pack more makes two.
func TestIndexFilesSplitAtTheReadersLimit(t *testing.T) {
	ctx := t.Context()
	const per = 4000
	// How many packs of per blobs fit in one file.
	fit := (MaxIndexPayload - len(indexMagic)) / indexEntrySize(PackEntry{Blobs: make([]pack.Blob, per)})
	for _, tc := range []struct {
		packs, files int
	}{{fit, 1}, {fit + 1, 2}, {2*fit + 1, 3}} {
		r := newRepo(t, "pw")
		packs := packsOfBlobs(tc.packs, per)
		ids, err := r.SaveIndex(ctx, packs)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != tc.files {
			t.Errorf("%d packs of %d blobs: %d index files, want %d", tc.packs, per, len(ids), tc.files)
		}
		for _, id := range ids {
			if _, err := r.LoadIndexFile(ctx, id); err != nil {
				t.Fatalf("index file %s does not read back: %v", id.Short(), err)
			}
		}
		r.Index.Reset()
		if err := r.LoadIndex(ctx); err != nil {
			t.Fatal(err)
		}
		if skipped := r.Index.Skipped(); len(skipped) != 0 {
			t.Fatalf("index files skipped as unreadable: %v", skipped)
		}
		for _, p := range []PackEntry{packs[0], packs[len(packs)-1]} {
			for _, b := range []pack.Blob{p.Blobs[0], p.Blobs[per-1]} {
				if l, ok := r.Index.Lookup(b.ID); !ok || l.Pack != p.ID {
					t.Fatalf("blob %s of pack %s is not indexed after the reload", b.ID.Short(), p.ID.Short())
				}
			}
		}
	}
}
