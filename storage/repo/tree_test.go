package repo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/storage/pack"
)

func testNodes(n, nameLen int) []Node {
	nodes := make([]Node, n)
	for i := range nodes {
		name := fmt.Sprintf("%08d", i)
		name += strings.Repeat("n", max(0, nameLen-len(name)))
		nodes[i] = Node{Name: name, Type: NodeFile, Mode: 0o644, ModTime: time.Unix(1700000000, int64(i)).UTC(), UID: 1, GID: 2, Size: int64(i)}
	}
	return nodes
}

func treeBlobSizes(r *Repository) (n int, largest uint32) {
	r.Index.Each(func(l Location) {
		if l.Type == pack.TreeBlob {
			n++
			largest = max(largest, l.RawLength)
		}
	})
	return n, largest
}

func nodesJSON(t *testing.T, nodes []Node) []byte {
	t.Helper()
	b, err := json.Marshal(nodes)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// saveAndLoad stores nodes with the given limit and reads them back.
func saveAndLoad(t *testing.T, r *Repository, nodes []Node, limit int) (ID, *Tree) {
	t.Helper()
	ctx := t.Context()
	s := r.NewSaver(ctx, SaverOptions{Uploads: 1})
	id, _, err := saveTree(s, nodes, r.NewHasher(), limit)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := r.LoadTree(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return id, got
}

// TestTreeSplitsExactlyAtTheLimit: a listing of exactly limit bytes is
// one blob, identical to what json.Marshal gives; one byte more splits
// it, no stored tree blob exceeds the limit, and both read back whole.
func TestTreeSplitsExactlyAtTheLimit(t *testing.T) {
	const limit = 4096
	nodes := testNodes(20, 10)
	base, err := json.Marshal(Tree{Nodes: nodes})
	if err != nil {
		t.Fatal(err)
	}
	if len(base) >= limit {
		t.Fatalf("test setup: %d bytes already", len(base))
	}
	nodes[0].Name += strings.Repeat("x", limit-len(base))
	exact, _ := json.Marshal(Tree{Nodes: nodes})
	if len(exact) != limit {
		t.Fatalf("test setup: %d bytes, want %d", len(exact), limit)
	}
	for _, extra := range []int{0, 1} {
		t.Run(fmt.Sprintf("limit+%d", extra), func(t *testing.T) {
			r := newRepo(t, "")
			in := append([]Node(nil), nodes...)
			in[0].Name += strings.Repeat("y", extra)
			id, got := saveAndLoad(t, r, in, limit)
			n, largest := treeBlobSizes(r)
			if largest > limit {
				t.Fatalf("a tree blob of %d bytes, over the %d limit", largest, limit)
			}
			if extra == 0 {
				if n != 1 || len(got.Parts) != 0 {
					t.Fatalf("%d tree blobs, %d parts; want one blob", n, len(got.Parts))
				}
				if want := r.NewHasher().Sum(exact); id != want {
					t.Fatal("a tree that fits is not stored as json.Marshal gives it")
				}
			} else if n < 3 || len(got.Parts) < 2 {
				t.Fatalf("%d tree blobs, %d parts; want an index and at least two parts", n, len(got.Parts))
			}
			if !bytes.Equal(nodesJSON(t, got.Nodes), nodesJSON(t, in)) {
				t.Fatal("the listing read back differs from the one stored")
			}
		})
	}
}

// TestTreeOverTheReadersLimit: a directory whose listing is larger than
// the reader's decompression cap (MaxBlobSize) — 50,000 entries with
// 240-byte names — is written so that it reads back; the same listing
// stored as one blob would not be readable.
func TestTreeOverTheReadersLimit(t *testing.T) {
	r := newRepo(t, "")
	ctx := t.Context()
	nodes := testNodes(50000, 240)
	whole, _ := json.Marshal(Tree{Nodes: nodes})
	if len(whole) <= MaxBlobSize {
		t.Fatalf("test setup: the listing is %d bytes, not over %d", len(whole), MaxBlobSize)
	}
	s := r.NewSaver(ctx, SaverOptions{Uploads: 1})
	id, _, err := r.SaveTree(s, &Tree{Nodes: nodes}, r.NewHasher())
	if err != nil {
		t.Fatal(err)
	}
	h := r.NewHasher()
	oldID := h.Sum(whole) // what the writer used to store
	if s.Reserve(oldID) {
		if _, err := s.Save(pack.TreeBlob, oldID, whole, true); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.LoadTree(ctx, oldID); err == nil {
		t.Fatal("a single tree blob over the reader's limit read back: the boundary this test guards is gone")
	}
	got, err := r.LoadTree(ctx, id)
	if err != nil {
		t.Fatalf("the split tree does not read back: %v", err)
	}
	if !bytes.Equal(nodesJSON(t, got.Nodes), nodesJSON(t, nodes)) {
		t.Fatal("the listing read back differs from the one stored")
	}
	r.Index.Each(func(l Location) {
		if l.Type == pack.TreeBlob && l.ID != oldID && l.RawLength > MaxTreeBlob {
			t.Fatalf("tree blob %s holds %d bytes, over MaxTreeBlob", l.ID.Short(), l.RawLength)
		}
	})
}

// TestTreeHugeChunkList: a file with more chunk IDs than one tree blob
// holds is stored across continuation nodes and read back as one node.
func TestTreeHugeChunkList(t *testing.T) {
	r := newRepo(t, "")
	const limit = 8192
	nodes := testNodes(3, 10)
	for i := range 1000 {
		nodes[1].Content = append(nodes[1].Content, ID{byte(i), byte(i >> 8), 7})
	}
	_, got := saveAndLoad(t, r, nodes, limit)
	if _, largest := treeBlobSizes(r); largest > limit {
		t.Fatalf("a tree blob of %d bytes, over the %d limit", largest, limit)
	}
	for _, n := range got.Nodes {
		if n.Continues {
			t.Fatal("a continuation node leaked out of LoadTree")
		}
	}
	if !bytes.Equal(nodesJSON(t, got.Nodes), nodesJSON(t, nodes)) {
		t.Fatalf("the listing read back differs: %d nodes, %d chunks in the big file", len(got.Nodes), len(got.Nodes[1].Content))
	}
}

// TestTreeVersion1Reads: a repository of format version 1 opens, and a
// tree blob as version 1 wrote it (no version 2 fields) still reads.
func TestTreeVersion1Reads(t *testing.T) {
	r := newRepo(t, "")
	ctx := t.Context()
	v1 := []byte(`{"nodes":[{"name":"a.txt","type":"file","mode":420,"mtime":"2025-01-15T14:30:00.123456789Z","ctime":"2025-01-15T14:30:00Z","uid":1000,"gid":1000,"inode":12,"size":3,"content":["` + strings.Repeat("ab", 32) + `"]},{"name":"l","type":"symlink","mode":134218239,"mtime":"2025-01-15T14:30:00Z","uid":0,"gid":0,"link_target":"a.txt"}]}`)
	s := r.NewSaver(ctx, SaverOptions{Uploads: 1})
	id, _, err := storeTree(s, v1, r.NewHasher())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// The repository as version 1 wrote it: config version 1.
	cfgPath := filepath.Join(r.Backend().(interface{ Dir() string }).Dir(), "config")
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg["version"] != float64(FormatVersion) || FormatVersion < 2 {
		t.Fatalf("a new repository has version %v, want %d (2 or later)", cfg["version"], FormatVersion)
	}
	cfg["version"] = 1
	raw, _ = json.Marshal(cfg)
	if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	r1, err := Open(ctx, r.Backend(), "", nil)
	if err != nil {
		t.Fatalf("a version 1 repository does not open: %v", err)
	}
	defer r1.Close()
	if err := r1.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := r1.LoadTree(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Nodes) != 2 || got.Nodes[0].Size != 3 || got.Nodes[0].ModTime.Nanosecond() != 123456789 || got.Nodes[1].Target() != "a.txt" || len(got.Nodes[0].Xattrs) != 0 {
		t.Fatalf("version 1 tree read as %+v", got.Nodes)
	}
}
