package repo

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math"
	"time"
	"unicode/utf8"
)

// decodeTree reads a tree blob's JSON. The layout json.Marshal writes
// (what SaveTree stores) is read on a fast path, without reflection; any
// other input (escaped strings, keys spelled otherwise or repeated, nulls,
// numbers in other forms, damaged JSON) goes to encoding/json, so the
// result is always what json.Unmarshal gives. A backup of an unchanged
// tree reads every listing of its parent snapshot: this is most of its work.
func decodeTree(data []byte) (*Tree, error) {
	p := treeParser{b: data}
	if t, ok := p.tree(); ok {
		return t, nil
	}
	var t Tree
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// treeParser reads the JSON of a tree; every method reports false on
// anything it does not handle, and decodeTree then falls back.
type treeParser struct {
	b []byte
	i int
}

func (p *treeParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next skips white space and consumes c.
func (p *treeParser) next(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// peek skips white space and reports whether c comes next.
func (p *treeParser) peek(c byte) bool {
	p.ws()
	return p.i < len(p.b) && p.b[p.i] == c
}

// str reads a string without escapes, in valid UTF-8 (encoding/json
// would rewrite invalid bytes), and returns its bytes in place.
func (p *treeParser) str() ([]byte, bool) {
	if !p.next('"') {
		return nil, false
	}
	start, ascii := p.i, true
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			if !ascii && !utf8.Valid(s) {
				return nil, false
			}
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		p.i++
	}
	return nil, false
}

// uint reads a non-negative integer of at most max.
func (p *treeParser) uint(max uint64) (uint64, bool) {
	p.ws()
	start := p.i
	var v uint64
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		d := uint64(p.b[p.i] - '0')
		if v > (max-d)/10 {
			return 0, false
		}
		v = v*10 + d
		p.i++
	}
	n := p.i - start
	if n == 0 || (n > 1 && p.b[start] == '0') {
		return 0, false
	}
	if p.i < len(p.b) {
		switch p.b[p.i] {
		case '.', 'e', 'E', '-', '+':
			return 0, false
		}
	}
	return v, true
}

func (p *treeParser) bool() (bool, bool) {
	p.ws()
	switch {
	case len(p.b)-p.i >= 4 && string(p.b[p.i:p.i+4]) == "true":
		p.i += 4
		return true, true
	case len(p.b)-p.i >= 5 && string(p.b[p.i:p.i+5]) == "false":
		p.i += 5
		return false, true
	}
	return false, false
}

func (p *treeParser) id() (ID, bool) {
	var id ID
	s, ok := p.str()
	if !ok || len(s) != hex.EncodedLen(len(id)) {
		return id, false
	}
	if _, err := hex.Decode(id[:], s); err != nil {
		return id, false
	}
	return id, true
}

func (p *treeParser) bytes() ([]byte, bool) {
	s, ok := p.str()
	if !ok {
		return nil, false
	}
	b := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Decode(b, s)
	if err != nil {
		return nil, false
	}
	return b[:n], true
}

// list reads a JSON array, calling elem for each element.
func (p *treeParser) list(elem func() bool) bool {
	if !p.next('[') {
		return false
	}
	if p.next(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if p.next(']') {
			return true
		}
		if !p.next(',') {
			return false
		}
	}
}

// object reads a JSON object, calling field for each key: field reads
// the value and returns the key's number (0 to 31), or -1 for a key it
// does not know or a value it could not read. A key seen twice is left to
// encoding/json.
func (p *treeParser) object(field func(key []byte) int) bool {
	if !p.next('{') {
		return false
	}
	if p.next('}') {
		return true
	}
	var seen uint32
	for {
		k, ok := p.str()
		if !ok || !p.next(':') {
			return false
		}
		f := field(k)
		if f < 0 || seen&(1<<f) != 0 {
			return false
		}
		seen |= 1 << f
		if p.next('}') {
			return true
		}
		if !p.next(',') {
			return false
		}
	}
}

// field is f when its value was read, else -1.
func field(f int, ok bool) int {
	if !ok {
		return -1
	}
	return f
}

func (p *treeParser) tree() (*Tree, bool) {
	t := &Tree{}
	ok := p.object(func(k []byte) int {
		switch string(k) {
		case "nodes":
			// Each node has one "type" key (a quote inside a name is
			// escaped): room for all of them at once.
			t.Nodes = make([]Node, 0, bytes.Count(p.b[p.i:], []byte(`"type":`)))
			return field(0, p.list(func() bool {
				t.Nodes = append(t.Nodes, Node{})
				return p.node(&t.Nodes[len(t.Nodes)-1])
			}))
		case "parts":
			t.Parts = []ID{}
			return field(1, p.ids(&t.Parts))
		}
		return -1
	})
	p.ws()
	if !ok || p.i != len(p.b) {
		return nil, false
	}
	return t, true
}

func (p *treeParser) ids(out *[]ID) bool {
	return p.list(func() bool {
		id, ok := p.id()
		*out = append(*out, id)
		return ok
	})
}

func (p *treeParser) time(t *time.Time) bool {
	s, ok := p.str()
	return ok && t.UnmarshalText(s) == nil
}

// node reads one node; the keys are Node's JSON names.
func (p *treeParser) node(n *Node) bool {
	return p.object(func(k []byte) int {
		switch string(k) {
		case "name":
			return field(0, p.textTo(&n.Name))
		case "raw_name":
			return field(1, p.bytesTo(&n.RawName))
		case "type":
			s, ok := p.str()
			n.Type = nodeType(s)
			return field(2, ok)
		case "mode":
			return field(3, p.uint32To(&n.Mode))
		case "mtime":
			return field(4, p.time(&n.ModTime))
		case "ctime":
			return field(5, p.time(&n.ChangeTime))
		case "uid":
			return field(6, p.uint32To(&n.UID))
		case "gid":
			return field(7, p.uint32To(&n.GID))
		case "inode":
			return field(8, p.uint64To(&n.Inode))
		case "device":
			return field(9, p.uint64To(&n.Device))
		case "size":
			v, ok := p.uint(math.MaxInt64)
			n.Size = int64(v)
			return field(10, ok)
		case "link_target":
			return field(11, p.textTo(&n.LinkTarget))
		case "raw_link_target":
			return field(12, p.bytesTo(&n.RawLinkTarget))
		case "content":
			n.Content = []ID{}
			return field(13, p.ids(&n.Content))
		case "subtree":
			id, ok := p.id()
			n.Subtree = &id
			return field(14, ok)
		case "rdev":
			return field(15, p.uint64To(&n.Rdev))
		case "links":
			return field(16, p.uint64To(&n.Links))
		case "xattrs":
			n.Xattrs = []Xattr{}
			return field(17, p.list(func() bool {
				n.Xattrs = append(n.Xattrs, Xattr{})
				return p.xattr(&n.Xattrs[len(n.Xattrs)-1])
			}))
		case "sparse":
			return field(18, p.boolTo(&n.Sparse))
		case "continues":
			return field(19, p.boolTo(&n.Continues))
		}
		return -1
	})
}

// The ...To readers store the value they read in *dst.

func (p *treeParser) textTo(dst *string) bool {
	s, ok := p.str()
	*dst = string(s)
	return ok
}

func (p *treeParser) bytesTo(dst *[]byte) (ok bool) {
	*dst, ok = p.bytes()
	return ok
}

func (p *treeParser) uint64To(dst *uint64) (ok bool) {
	*dst, ok = p.uint(math.MaxUint64)
	return ok
}

func (p *treeParser) uint32To(dst *uint32) bool {
	v, ok := p.uint(math.MaxUint32)
	*dst = uint32(v)
	return ok
}

func (p *treeParser) boolTo(dst *bool) (ok bool) {
	*dst, ok = p.bool()
	return ok
}

func (p *treeParser) xattr(x *Xattr) bool {
	return p.object(func(k []byte) int {
		switch string(k) {
		case "name":
			return field(0, p.textTo(&x.Name))
		case "value":
			return field(1, p.bytesTo(&x.Value))
		}
		return -1
	})
}

// nodeType returns the node type constants without allocating for them.
func nodeType(s []byte) string {
	for _, t := range [...]string{NodeFile, NodeDir, NodeSymlink, NodeFIFO, NodeCharDev, NodeBlockDev} {
		if string(s) == t {
			return t
		}
	}
	return string(s)
}
