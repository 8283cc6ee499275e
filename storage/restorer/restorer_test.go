package restorer_test

import (
	"context"
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
