package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/backupbot/backupbot/storage/chunker"
	"github.com/backupbot/backupbot/storage/pack"
)

// MaxBlobSize is the largest blob plaintext a reader decompresses (the
// zstd decoder's cap). Writers stay below it by construction: a data blob
// is at most chunker.MaxSize, a tree blob at most MaxTreeBlob.
const MaxBlobSize = 2 * chunker.MaxSize

// MaxTreeBlob is the largest tree blob SaveTree writes. A directory whose
// listing is larger is split across several tree blobs; a file whose
// chunk list alone is larger is split across continuation nodes.
const MaxTreeBlob = MaxBlobSize / 4

// A compile-time check that the writer's limit is within the reader's.
var _ [MaxBlobSize - MaxTreeBlob]struct{}

// maxTreeDepth bounds how deeply split trees nest (a damaged or hostile
// repository must not recurse forever); each level multiplies the
// capacity by tens of thousands.
const maxTreeDepth = 8

// blobSink is what saveTree stores blobs through (a *Saver).
type blobSink interface {
	Reserve(id ID) bool
	Save(t pack.BlobType, id ID, data []byte, compress bool) (int, error)
}

const (
	treeHead = `{"nodes":[`
	treeTail = `]}`
)

// saveTree stores nodes as one tree blob when the listing fits in limit
// bytes, byte for byte what json.Marshal(Tree{Nodes: nodes}) gives (so
// trees written before splitting existed still deduplicate). Otherwise
// the nodes go into consecutive part blobs of at most limit bytes each
// and the tree stored under the returned ID is {"nodes":[],"parts":[...]}
// (itself split again when the part list is too long).
func saveTree(s blobSink, nodes []Node, h interface{ Sum([]byte) ID }, limit int) (ID, int, error) {
	// Encodings are collected until they would overflow one blob; from
	// then on each full part is stored at once, so a huge directory never
	// holds more than one part's encoding in memory.
	var parts []ID
	added := 0
	var cur [][]byte
	size := len(treeHead) + len(treeTail)
	flush := func() error {
		id, n, err := storeTree(s, joinNodes(cur, size), h)
		if err != nil {
			return err
		}
		parts = append(parts, id)
		added += n
		cur, size = cur[:0], len(treeHead)+len(treeTail)
		return nil
	}
	for i := range nodes {
		es, err := encodeNode(&nodes[i], limit)
		if err != nil {
			return ID{}, added, err
		}
		for _, e := range es {
			sep := 0
			if len(cur) > 0 {
				sep = 1
			}
			if len(cur) > 0 && size+sep+len(e) > limit {
				if err := flush(); err != nil {
					return ID{}, added, err
				}
				sep = 0
			}
			cur = append(cur, e)
			size += sep + len(e)
		}
	}
	if len(parts) == 0 { // it all fits in one blob
		return storeTree(s, joinNodes(cur, size), h)
	}
	if err := flush(); err != nil {
		return ID{}, added, err
	}
	id, n, err := saveParts(s, parts, h, limit, 0)
	return id, added + n, err
}

// saveParts stores the index tree of a split listing.
func saveParts(s blobSink, parts []ID, h interface{ Sum([]byte) ID }, limit, depth int) (ID, int, error) {
	data, err := json.Marshal(Tree{Nodes: []Node{}, Parts: parts})
	if err != nil {
		return ID{}, 0, err
	}
	if len(data) <= limit {
		return storeTree(s, data, h)
	}
	if depth >= maxTreeDepth {
		return ID{}, 0, fmt.Errorf("a directory listing too large to store (%d parts)", len(parts))
	}
	per := max(2, (limit-64)/idJSONLen)
	var groups []ID
	added := 0
	for i := 0; i < len(parts); i += per {
		id, n, err := saveParts(s, parts[i:min(i+per, len(parts))], h, limit, depth+1)
		if err != nil {
			return ID{}, added, err
		}
		groups = append(groups, id)
		added += n
	}
	id, n, err := saveParts(s, groups, h, limit, depth+1)
	return id, added + n, err
}

// idJSONLen is the length of an ID in a JSON list: 64 hex digits, two
// quotes and a comma.
const idJSONLen = 67

// encodeNode encodes one node; a node too large for a tree blob because
// of its chunk list becomes the node with the first chunks and
// continuation nodes with the rest.
func encodeNode(n *Node, limit int) ([][]byte, error) {
	e, err := json.Marshal(n)
	if err != nil {
		return nil, err
	}
	if len(e)+len(treeHead)+len(treeTail) <= limit/2 || len(n.Content) < 2 {
		if len(e)+len(treeHead)+len(treeTail) > limit {
			return nil, fmt.Errorf("the entry %q is too large for a directory listing (%d bytes)", n.Name, len(e))
		}
		return [][]byte{e}, nil
	}
	per := max(1, (limit/4)/idJSONLen)
	var out [][]byte
	for i := 0; i < len(n.Content); i += per {
		seg := n.Content[i:min(i+per, len(n.Content))]
		var c Node
		if i == 0 {
			c = *n
		} else {
			c = Node{Name: n.Name, RawName: n.RawName, Type: n.Type, Continues: true}
		}
		c.Content = seg
		b, err := json.Marshal(&c)
		if err != nil {
			return nil, err
		}
		if len(b)+len(treeHead)+len(treeTail) > limit {
			return nil, fmt.Errorf("the entry %q is too large for a directory listing (%d bytes)", n.Name, len(b))
		}
		out = append(out, b)
	}
	return out, nil
}

func joinNodes(encs [][]byte, size int) []byte {
	b := bytes.NewBuffer(make([]byte, 0, size))
	b.WriteString(treeHead)
	for i, e := range encs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(e)
	}
	b.WriteString(treeTail)
	return b.Bytes()
}

func storeTree(s blobSink, data []byte, h interface{ Sum([]byte) ID }) (ID, int, error) {
	id := h.Sum(data)
	if !s.Reserve(id) {
		return id, 0, nil
	}
	n, err := s.Save(pack.TreeBlob, id, data, true)
	return id, n, err
}

func hasContinuation(nodes []Node) bool {
	for i := range nodes {
		if nodes[i].Continues {
			return true
		}
	}
	return false
}

// assembleTree merges a stored tree, its parts (depth first, in order) and
// its continuation nodes into one listing.
func assembleTree(ctx context.Context, t *Tree, load func(context.Context, ID) (*Tree, error)) (*Tree, error) {
	out := &Tree{}
	var add func(t *Tree, depth int) error
	add = func(t *Tree, depth int) error {
		out.Nodes = append(out.Nodes, t.Nodes...)
		if len(t.Parts) > 0 && depth >= maxTreeDepth {
			return fmt.Errorf("a directory listing nests deeper than %d levels: %w", maxTreeDepth, ErrDamaged)
		}
		for _, p := range t.Parts {
			out.Parts = append(out.Parts, p)
			pt, err := load(ctx, p)
			if err != nil {
				return fmt.Errorf("part of a directory listing: %w", err)
			}
			if err := add(pt, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := add(t, 0); err != nil {
		return nil, err
	}
	merged := out.Nodes[:0]
	for _, n := range out.Nodes {
		if n.Continues {
			if len(merged) == 0 || merged[len(merged)-1].FileName() != n.FileName() {
				return nil, fmt.Errorf("a continuation entry %q follows no entry of that name: %w", n.Name, ErrDamaged)
			}
			last := &merged[len(merged)-1]
			last.Content = append(last.Content, n.Content...)
			continue
		}
		merged = append(merged, n)
	}
	clear(out.Nodes[len(merged):])
	out.Nodes = merged
	return out, nil
}
