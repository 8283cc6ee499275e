package restorer_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/storage/local"
	"github.com/backupbot/backupbot/storage/pack"
	"github.com/backupbot/backupbot/storage/repo"
	"github.com/backupbot/backupbot/storage/restorer"
)

// fixture is an unencrypted repository in dir that tests store blobs and
// trees into through s.
type fixture struct {
	dir string
	r   *repo.Repository
	s   *repo.Saver
	h   interface{ Sum([]byte) repo.ID }
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	b, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Init(context.Background(), b, repo.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return &fixture{dir: dir, r: r, s: r.NewSaver(context.Background(), repo.SaverOptions{}), h: r.NewHasher()}
}

// data stores a data blob and returns its ID.
func (f *fixture) data(t *testing.T, payload []byte) repo.ID {
	t.Helper()
	id := f.h.Sum(payload)
	if f.s.Reserve(id) {
		if _, err := f.s.Save(pack.DataBlob, id, payload, false); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

// tree stores a tree and returns its ID.
func (f *fixture) tree(t *testing.T, tr *repo.Tree) repo.ID {
	t.Helper()
	id, _, err := f.r.SaveTree(f.s, tr, f.h)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// root stores a root tree holding src as the directory "src", flushes
// everything stored and returns the root's ID.
func (f *fixture) root(t *testing.T, src *repo.Tree) repo.ID {
	t.Helper()
	srcID := f.tree(t, src)
	rootID := f.tree(t, &repo.Tree{Nodes: []repo.Node{{Name: "src", Type: repo.NodeDir, Mode: 0o755, Subtree: &srcID}}})
	if _, err := f.s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	return rootID
}

// file is a regular file node of payload stored as the blob id.
func file(name string, payload []byte, id repo.ID) repo.Node {
	return repo.Node{Name: name, Type: repo.NodeFile, Mode: 0o644, Size: int64(len(payload)), Content: []repo.ID{id}}
}

// TestNoNameEscapesTheDestination stores a hostile tree (names with "..",
// slashes, a duplicate entry that is first a symlink out and then a
// directory) and restores it: nothing may land outside the destination.
func TestNoNameEscapesTheDestination(t *testing.T) {
	f := newFixture(t)
	outside := t.TempDir()
	payload := []byte("should never leave the destination")
	blob := f.data(t, payload)
	innerID := f.tree(t, &repo.Tree{Nodes: []repo.Node{file("evil", payload, blob)}})
	rel, err := filepath.Rel("/", outside)
	if err != nil {
		t.Fatal(err)
	}
	rootID := f.root(t, &repo.Tree{Nodes: []repo.Node{
		file("..", payload, blob),
		file("../../../../"+rel+"/escaped", payload, blob),
		{Name: "link", Type: repo.NodeSymlink, Mode: 0o777, LinkTarget: outside},
		{Name: "link", Type: repo.NodeDir, Mode: 0o755, Subtree: &innerID},
		file("fine", payload, blob),
	}})
	dest := t.TempDir()
	res, err := restorer.Run(context.Background(), f.r, rootID, restorer.Options{Dest: dest, Sources: []string{"/src"}})
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(outside)
	if len(entries) != 0 {
		t.Fatalf("the restore wrote %d entries outside the destination", len(entries))
	}
	if got, err := os.ReadFile(filepath.Join(dest, "src", "fine")); err != nil || string(got) != string(payload) {
		t.Fatalf("the safe file was not restored: %v", err)
	}
	if len(res.Warnings) < 2 || !strings.Contains(strings.Join(res.Warnings, "\n"), "unsafe") {
		t.Fatalf("the skipped names are not reported: %v", res.Warnings)
	}
}

// TestValidateNamesTheDamagedFileAndWritesNothing flips a byte in one
// file's chunk: a validating restore fails naming that file and leaves the
// destination without any restored file, while an intact repository
// validates and restores.
func TestValidateNamesTheDamagedFileAndWritesNothing(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	r := f.r
	bystander := []byte("an intact file next to the damaged one")
	victim := []byte("this file's only chunk gets a flipped byte")
	byID, victimID := f.data(t, bystander), f.data(t, victim)
	rootID := f.root(t, &repo.Tree{Nodes: []repo.Node{
		file("bystander", bystander, byID),
		file("copy", bystander, byID),
		file("victim", victim, victimID),
	}})
	opts := restorer.Options{Sources: []string{"/src"}, Validate: true}

	opts.Dest = t.TempDir()
	if _, err := restorer.Run(ctx, r, rootID, opts); err != nil {
		t.Fatalf("validating an intact repository: %v", err)
	}
	for _, name := range []string{"bystander", "copy"} {
		if got, err := os.ReadFile(filepath.Join(opts.Dest, "src", name)); err != nil || string(got) != string(bystander) {
			t.Fatalf("%s was not restored: %q, %v", name, got, err)
		}
	}

	loc, ok := r.Index.Lookup(victimID)
	if !ok {
		t.Fatal("the victim's chunk is not in the index")
	}
	packFile := filepath.Join(f.dir, filepath.FromSlash(repo.PackKey(loc.Pack)))
	data, err := os.ReadFile(packFile)
	if err != nil {
		t.Fatal(err)
	}
	data[loc.Offset+loc.Length/2] ^= 0xff
	if err := os.WriteFile(packFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	opts.Dest = t.TempDir()
	_, err = restorer.Run(ctx, r, rootID, opts)
	if err == nil || !strings.Contains(err.Error(), "/src/victim") || !errors.Is(err, repo.ErrDamaged) {
		t.Fatalf("validating a damaged chunk: %v; want an ErrDamaged error naming /src/victim", err)
	}
	if _, err := os.Stat(filepath.Join(opts.Dest, "src", "bystander")); err == nil {
		t.Fatal("a validating restore wrote files before finding the damage")
	}
}
