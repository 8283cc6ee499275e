package repo

import (
	"reflect"
	"testing"
	"time"
)

// Same must look at every field of Node: a field it skipped would let a
// changed entry reuse the parent's listing and go unrecorded. The base
// node sets every field (a field added to Node fails here until the test
// sets it); changing any one field makes the nodes differ.
func TestNodeSameComparesEveryField(t *testing.T) {
	sub := ID{7}
	at := time.Date(2025, 3, 4, 5, 6, 7, 8, time.UTC)
	base := Node{
		Name: "n", RawName: []byte("n\xff"), Type: NodeFile, Mode: 0o644, ModTime: at, ChangeTime: at.Add(time.Second),
		UID: 1, GID: 2, Inode: 3, Device: 4, Size: 5, LinkTarget: "t", RawLinkTarget: []byte("t\xff"),
		Content: []ID{{1}, {2}}, Subtree: &sub, Rdev: 6, Links: 2, Xattrs: []Xattr{{Name: "user.a", Value: []byte("v")}},
		Sparse: true, Continues: true,
	}
	v := reflect.ValueOf(base)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("the test's base node leaves %s unset: set it, and compare it in Node.Same", v.Type().Field(i).Name)
		}
	}
	same := base
	same.ModTime = at.In(time.FixedZone("x", 3600)) // the same instant
	same.Content = append([]ID(nil), base.Content...)
	sub2 := sub
	same.Subtree = &sub2
	if !base.Same(&same) {
		t.Fatal("equal nodes are not the Same")
	}
	for i := range v.NumField() {
		changed := base
		f := reflect.ValueOf(&changed).Elem().Field(i)
		f.Set(reflect.Zero(f.Type()))
		if base.Same(&changed) || changed.Same(&base) {
			t.Errorf("nodes that differ in %s are the Same", v.Type().Field(i).Name)
		}
	}
	other := ID{8}
	for name, change := range map[string]func(n *Node){
		"a chunk":        func(n *Node) { n.Content = []ID{{1}, {3}} },
		"the subtree":    func(n *Node) { n.Subtree = &other },
		"an xattr value": func(n *Node) { n.Xattrs = []Xattr{{Name: "user.a", Value: []byte("w")}} },
		"an xattr name":  func(n *Node) { n.Xattrs = []Xattr{{Name: "user.b", Value: []byte("v")}} },
		"the mtime":      func(n *Node) { n.ModTime = at.Add(time.Nanosecond) },
	} {
		changed := base
		change(&changed)
		if base.Same(&changed) {
			t.Errorf("nodes that differ in %s are the Same", name)
		}
	}
	empty, none := Node{Name: "e", Content: []ID{}, Xattrs: []Xattr{}}, Node{Name: "e"}
	if !empty.Same(&none) {
		t.Error("empty and absent lists (stored alike) differ")
	}
}
