package repo

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// decodeTreeNodes are nodes of every kind with every field, and names
// that JSON escapes or cannot carry (quotes, <, control bytes, bad UTF-8).
func decodeTreeNodes() []Node {
	sub := ID{9, 8, 7}
	at := time.Date(2024, 12, 31, 23, 59, 58, 123456789, time.FixedZone("x", -7*3600))
	var nodes []Node
	for i, name := range []string{"plain.txt", "é ü 日本", `quote"d`, `back\slash`, "<b>&amp;", "tab\there", "bad\xff\xfe", "", "z"} {
		n := Node{Type: NodeFile, Mode: 0o100644 + uint32(i), ModTime: at.Add(time.Duration(i)), ChangeTime: at.UTC(),
			UID: math.MaxUint32, GID: uint32(i), Inode: math.MaxUint64 - uint64(i), Size: math.MaxInt64 - int64(i),
			Content: []ID{{byte(i)}, {0xff, byte(i)}}}
		n.SetName(name)
		nodes = append(nodes, n)
	}
	link := Node{Type: NodeSymlink, Mode: 0o777, ModTime: at}
	link.SetName("link")
	link.SetTarget("../t\xffarget\n")
	nodes = append(nodes, link,
		Node{Name: "dir", Type: NodeDir, Mode: 0o2755, ModTime: at, Subtree: &sub, Xattrs: []Xattr{
			{Name: "system.posix_acl_default", Value: []byte{2, 0, 0, 0, 1}}, {Name: "user.e", Value: []byte{}}}},
		Node{Name: "dev", Type: NodeCharDev, Rdev: 1<<40 + 5, ModTime: at},
		Node{Name: "fifo", Type: NodeFIFO, ModTime: at},
		Node{Name: "h", Type: NodeFile, Links: 3, Device: 2049, Inode: 1, Sparse: true, ModTime: at},
		Node{Name: "h", Type: NodeFile, Continues: true, Content: []ID{{1}}},
		Node{Name: "empty", Type: NodeFile, ModTime: time.Time{}})
	return nodes
}

func jsonTree(t *testing.T, data []byte) (*Tree, error) {
	t.Helper()
	var tr Tree
	if err := json.Unmarshal(data, &tr); err != nil {
		return nil, err
	}
	return &tr, nil
}

// Tree blobs as SaveTree writes them are read on the fast path, and give
// exactly what encoding/json gives: every field, escaped and non-UTF-8
// names (those go to encoding/json), split trees' part lists.
func TestDecodeTreeIsEncodingJSON(t *testing.T) {
	nodes := decodeTreeNodes()
	for _, tr := range []Tree{{Nodes: nodes}, {Nodes: []Node{}, Parts: []ID{{1}, {2}}}, {Nodes: []Node{}}, {Nodes: nodes[:1]}} {
		data, err := json.Marshal(tr)
		if err != nil {
			t.Fatal(err)
		}
		want, err := jsonTree(t, data)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeTree(data)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("decodeTree differs from encoding/json on %s:\n got %+v\nwant %+v", data, got, want)
		}
	}
	// The usual listing (plain names) takes the fast path.
	var plain []Node
	for _, n := range nodes {
		switch n.Name {
		case "plain.txt", "é ü 日本", "dir", "dev", "fifo", "h", "empty":
			plain = append(plain, n)
		}
	}
	data, err := json.Marshal(Tree{Nodes: plain})
	if err != nil {
		t.Fatal(err)
	}
	p := treeParser{b: data}
	if _, ok := p.tree(); !ok {
		t.Errorf("a plain listing is not read on the fast path: %s", data)
	}
}

// Whatever the input (other spellings, white space, nulls, repeated keys,
// damage of any kind), decodeTree gives what encoding/json gives, or fails
// where it fails.
func TestDecodeTreeOnAnyInputIsEncodingJSON(t *testing.T) {
	valid, err := json.Marshal(Tree{Nodes: decodeTreeNodes()[:2]})
	if err != nil {
		t.Fatal(err)
	}
	inputs := [][]byte{
		[]byte(`{"nodes":null}`), []byte(`{"Nodes":[{"Name":"a","TYPE":"file"}]}`), []byte(` { "nodes" : [ { "name" : "a" , "size" : 5 } ] } `),
		[]byte(`{"nodes":[{"name":"a","name":"b"}]}`), []byte(`{"nodes":[{"name":"a","subtree":null}]}`), []byte(`{"nodes":[{"name":"a","size":1e3}]}`),
		[]byte(`{"nodes":[{"name":"a","size":-1}]}`), []byte(`{"nodes":[{"name":"a","uid":4294967296}]}`), []byte(`{"nodes":[{"name":"a","mode":007}]}`),
		[]byte(`{"nodes":[{"name":"a","unknown":{"x":[1,2]}}]}`), []byte(`{"nodes":[]}x`), []byte(`{"nodes":[],}`), []byte(`{"nodes":[{"name":"\u00e9"}]}`),
		[]byte(`{"nodes":[{"name":"a","sparse":truex}]}`), []byte(`{"nodes":[{"name":"a","content":["00"]}]}`), []byte(``), []byte(`[]`),
		[]byte(`{"nodes":[{"name":"a","mtime":"2024-01-01T00:00:00"}]}`), []byte(`{"nodes":[{"name":"a","raw_name":"!!"}]}`),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		b := bytes.Clone(valid)
		switch rng.IntN(4) {
		case 0:
			b[rng.IntN(len(b))] = byte(rng.IntN(256))
		case 1:
			b = b[:rng.IntN(len(b))]
		case 2:
			i := rng.IntN(len(b))
			b = append(b[:i], append([]byte{" \n,:\"{}[]0-e.\\"[rng.IntN(14)]}, b[i:]...)...)
		case 3:
			i := rng.IntN(len(b))
			b = append(b[:i], b[min(len(b), i+1+rng.IntN(8)):]...)
		}
		inputs = append(inputs, b)
	}
	for _, in := range inputs {
		want, werr := jsonTree(t, in)
		got, gerr := decodeTree(in)
		if (werr != nil) != (gerr != nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("on %q decodeTree gives %+v, %v; encoding/json %+v, %v", in, got, gerr, want, werr)
		}
	}
}
