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

// TestNoNameEscapesTheDestination stores a hostile tree (names with "..",
// slashes, a duplicate entry that is first a symlink out and then a
// directory) and restores it: nothing may land outside the destination.
func TestNoNameEscapesTheDestination(t *testing.T) {
	ctx := context.Background()
	b, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Init(ctx, b, repo.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	outside := t.TempDir()
	s := r.NewSaver(ctx, repo.SaverOptions{})
	h := r.NewHasher()
	payload := []byte("should never leave the destination")
	blob := h.Sum(payload)
	if s.Reserve(blob) {
		if _, err := s.Save(pack.DataBlob, blob, payload, false); err != nil {
			t.Fatal(err)
		}
	}
	file := func(name string) repo.Node {
		return repo.Node{Name: name, Type: repo.NodeFile, Mode: 0o644, Size: int64(len(payload)), Content: []repo.ID{blob}}
	}
	inner := &repo.Tree{Nodes: []repo.Node{file("evil")}}
	innerID, _, err := r.SaveTree(s, inner, h)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel("/", outside)
	if err != nil {
		t.Fatal(err)
	}
	src := &repo.Tree{Nodes: []repo.Node{
		file(".."),
		file("../../../../" + rel + "/escaped"),
		{Name: "link", Type: repo.NodeSymlink, Mode: 0o777, LinkTarget: outside},
		{Name: "link", Type: repo.NodeDir, Mode: 0o755, Subtree: &innerID},
		file("fine"),
	}}
	srcID, _, err := r.SaveTree(s, src, h)
	if err != nil {
		t.Fatal(err)
	}
	root := &repo.Tree{Nodes: []repo.Node{{Name: "src", Type: repo.NodeDir, Mode: 0o755, Subtree: &srcID}}}
	rootID, _, err := r.SaveTree(s, root, h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	res, err := restorer.Run(ctx, r, rootID, restorer.Options{Dest: dest, Sources: []string{"/src"}})
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
	repoDir := t.TempDir()
	b, err := local.New(repoDir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Init(ctx, b, repo.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := r.NewSaver(ctx, repo.SaverOptions{})
	h := r.NewHasher()
	save := func(payload []byte) repo.ID {
		id := h.Sum(payload)
		if s.Reserve(id) {
			if _, err := s.Save(pack.DataBlob, id, payload, false); err != nil {
				t.Fatal(err)
			}
		}
		return id
	}
	bystander := []byte("an intact file next to the damaged one")
	victim := []byte("this file's only chunk gets a flipped byte")
	byID, victimID := save(bystander), save(victim)
	file := func(name string, payload []byte, id repo.ID) repo.Node {
		return repo.Node{Name: name, Type: repo.NodeFile, Mode: 0o644, Size: int64(len(payload)), Content: []repo.ID{id}}
	}
	src := &repo.Tree{Nodes: []repo.Node{
		file("bystander", bystander, byID),
		file("copy", bystander, byID),
		file("victim", victim, victimID),
	}}
	srcID, _, err := r.SaveTree(s, src, h)
	if err != nil {
		t.Fatal(err)
	}
	rootID, _, err := r.SaveTree(s, &repo.Tree{Nodes: []repo.Node{{Name: "src", Type: repo.NodeDir, Mode: 0o755, Subtree: &srcID}}}, h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
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
	packFile := filepath.Join(repoDir, filepath.FromSlash(repo.PackKey(loc.Pack)))
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
