package repo

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/backupbot/backupbot/storage/pack"
)

// Node types.
const (
	NodeFile    = "file"
	NodeDir     = "dir"
	NodeSymlink = "symlink"
	// Since format version 2:
	NodeFIFO     = "fifo"
	NodeCharDev  = "chardev"
	NodeBlockDev = "blockdev"
)

// Xattr is one extended attribute (POSIX ACLs are the
// system.posix_acl_access and system.posix_acl_default attributes).
type Xattr struct {
	Name  string `json:"name"`
	Value []byte `json:"value"`
}

// Node is one entry of a directory: its metadata and, for a file, the IDs
// of its chunks in order; for a directory, the ID of its tree.
type Node struct {
	Name string `json:"name"`
	// RawName holds the name's bytes when they are not valid UTF-8 (JSON
	// could not carry them); Name then is only for display.
	RawName    []byte    `json:"raw_name,omitempty"`
	Type       string    `json:"type"`
	Mode       uint32    `json:"mode"`
	ModTime    time.Time `json:"mtime"`
	ChangeTime time.Time `json:"ctime,omitzero"`
	UID        uint32    `json:"uid"`
	GID        uint32    `json:"gid"`
	Inode      uint64    `json:"inode,omitempty"`
	Device     uint64    `json:"device,omitempty"`
	Size       int64     `json:"size,omitempty"`
	LinkTarget string    `json:"link_target,omitempty"`
	// RawLinkTarget holds the target's bytes when not valid UTF-8.
	RawLinkTarget []byte `json:"raw_link_target,omitempty"`
	Content       []ID   `json:"content,omitempty"`
	Subtree       *ID    `json:"subtree,omitempty"`

	// Since format version 2 (all optional, so version 1 trees read as is):

	// Rdev is a device node's number (unix.Mkdev(major, minor)).
	Rdev uint64 `json:"rdev,omitempty"`
	// Links is a file's hard link count when above one; with Device and
	// Inode it groups the names of one file, restored as hard links.
	Links uint64 `json:"links,omitempty"`
	// Xattrs are the extended attributes, ACLs included, sorted by name.
	Xattrs []Xattr `json:"xattrs,omitempty"`
	// Sparse says the file had holes; a restore leaves zero runs as holes.
	Sparse bool `json:"sparse,omitempty"`
	// Continues marks a stored node that only carries more content IDs of
	// the node before it (a file with too many chunks for one tree blob).
	// LoadTree merges it; a loaded tree never holds one.
	Continues bool `json:"continues,omitempty"`
}

// FileName returns the node's real name.
func (n *Node) FileName() string { return rawOr(n.Name, n.RawName) }

// SetName stores a name, keeping bytes that are not valid UTF-8.
func (n *Node) SetName(name string) { n.Name, n.RawName = splitRaw(name) }

// Target returns a symlink's real target.
func (n *Node) Target() string { return rawOr(n.LinkTarget, n.RawLinkTarget) }

// SetTarget stores a symlink target, keeping bytes that are not valid UTF-8.
func (n *Node) SetTarget(t string) { n.LinkTarget, n.RawLinkTarget = splitRaw(t) }

// rawOr returns a string field's real value: its raw bytes when they are
// kept, else the field itself.
func rawOr(s string, raw []byte) string {
	if raw != nil {
		return string(raw)
	}
	return s
}

// splitRaw returns the JSON form of s (valid UTF-8) and, when that is not
// s itself, s's raw bytes to keep beside it.
func splitRaw(s string) (string, []byte) {
	if utf8.ValidString(s) {
		return s, nil
	}
	return strings.ToValidUTF8(s, "\uFFFD"), []byte(s)
}

// Same reports whether n and o record the same entry: every field equal
// (times as instants, absent and empty lists alike). A directory whose
// nodes are all the Same as its parent snapshot's listing can reuse that
// listing's tree blob instead of encoding it again. Every field of Node
// must be compared here (TestNodeSameComparesEveryField checks it).
func (n *Node) Same(o *Node) bool {
	return n.Name == o.Name && bytes.Equal(n.RawName, o.RawName) && n.Type == o.Type && n.Mode == o.Mode &&
		n.ModTime.Equal(o.ModTime) && n.ChangeTime.Equal(o.ChangeTime) && n.UID == o.UID && n.GID == o.GID &&
		n.Inode == o.Inode && n.Device == o.Device && n.Size == o.Size && n.LinkTarget == o.LinkTarget &&
		bytes.Equal(n.RawLinkTarget, o.RawLinkTarget) && slices.Equal(n.Content, o.Content) &&
		(n.Subtree == nil) == (o.Subtree == nil) && (n.Subtree == nil || *n.Subtree == *o.Subtree) &&
		n.Rdev == o.Rdev && n.Links == o.Links && n.Sparse == o.Sparse && n.Continues == o.Continues &&
		slices.EqualFunc(n.Xattrs, o.Xattrs, func(a, b Xattr) bool { return a.Name == b.Name && bytes.Equal(a.Value, b.Value) })
}

// FileMode returns the node's permission and special bits.
func (n *Node) FileMode() fs.FileMode { return fs.FileMode(n.Mode) }

// Tree is a directory listing, sorted by name.
type Tree struct {
	Nodes []Node `json:"nodes"`
	// Parts, in a stored tree, are the IDs of the tree blobs that hold the
	// nodes, in order, when a directory is too large for one blob (see
	// MaxTreeBlob). In a loaded tree it lists every part blob read (nested
	// ones too) so that walkers can count them as used; Nodes then holds
	// the merged listing.
	Parts []ID `json:"parts,omitempty"`
}

// Sort orders the nodes by name, as a stored tree must be.
func (t *Tree) Sort() {
	slices.SortFunc(t.Nodes, func(a, b Node) int { return strings.Compare(a.FileName(), b.FileName()) })
}

// Find returns the node with the name, or nil.
func (t *Tree) Find(name string) *Node {
	i, ok := slices.BinarySearchFunc(t.Nodes, name, func(n Node, name string) int { return strings.Compare(n.FileName(), name) })
	if !ok {
		return nil
	}
	return &t.Nodes[i]
}

// SaveTree stores a tree (nodes sorted) through s and returns its ID and
// the bytes it added. A listing larger than MaxTreeBlob is split across
// several blobs (see saveSplit), so every stored tree blob is small
// enough for LoadTree to read.
func (r *Repository) SaveTree(s *Saver, t *Tree, h interface{ Sum([]byte) ID }) (ID, int, error) {
	return saveTree(s, t.Nodes, h, MaxTreeBlob)
}

// maxTreePreload bounds the tree bytes LoadTree reads ahead.
const maxTreePreload = 64 << 20

// treeCache holds the sealed tree blobs read ahead, pack by pack.
type treeCache struct {
	once   sync.Once
	mu     sync.RWMutex
	sealed map[ID]cachedTree
}

type cachedTree struct {
	blob pack.Blob
	data []byte
}

// preloadTrees reads every indexed tree blob with one ranged read per tree
// pack (four packs at a time), unless they add up to more than
// maxTreePreload. Walking a snapshot then costs no storage round trip per
// directory. Failures are ignored: LoadTree falls back to single reads,
// which report errors properly.
func (r *Repository) preloadTrees(ctx context.Context) {
	byPack := map[ID][]Location{}
	var total int64
	r.Index.Each(func(l Location) {
		if l.Type == pack.TreeBlob {
			byPack[l.Pack] = append(byPack[l.Pack], l)
			total += int64(l.Length)
		}
	})
	if total > maxTreePreload {
		return
	}
	cache := make(map[ID]cachedTree)
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for packID, locs := range byPack {
		g.Go(func() error {
			start, end := int64(locs[0].Offset), int64(0)
			for _, l := range locs {
				start = min(start, int64(l.Offset))
				end = max(end, int64(l.Offset)+int64(l.Length))
			}
			buf, err := r.readRange(gctx, PackKey(packID), start, end-start)
			if err != nil {
				return nil
			}
			mu.Lock()
			for _, l := range locs {
				off := int64(l.Offset) - start
				cache[l.ID] = cachedTree{blob: l.Blob, data: buf[off : off+int64(l.Length) : off+int64(l.Length)]}
			}
			mu.Unlock()
			return nil
		})
	}
	_ = g.Wait()
	r.trees.mu.Lock()
	r.trees.sealed = cache
	r.trees.mu.Unlock()
}

// LoadTree reads a directory listing: one tree blob, or a split one with
// all its parts, merged into one Tree.
func (r *Repository) LoadTree(ctx context.Context, id ID) (*Tree, error) {
	t, err := r.loadTreeBlob(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(t.Parts) == 0 && !hasContinuation(t.Nodes) {
		return t, nil
	}
	return assembleTree(ctx, t, r.loadTreeBlob)
}

// loadTreeBlob reads and decodes one tree blob as stored.
func (r *Repository) loadTreeBlob(ctx context.Context, id ID) (*Tree, error) {
	r.trees.once.Do(func() { r.preloadTrees(ctx) })
	r.trees.mu.RLock()
	c, ok := r.trees.sealed[id]
	r.trees.mu.RUnlock()
	var data []byte
	var err error
	if ok {
		data, err = r.OpenBlob(c.blob, bytes.Clone(c.data), nil)
	} else {
		data, err = r.LoadBlob(ctx, id, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("loading tree %s: %w", id.Short(), err)
	}
	t, err := decodeTree(data)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w: %w", id.Short(), err, ErrDamaged)
	}
	return t, nil
}
