package restorer

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/backupbot/backupbot/internal/quote"
	"github.com/backupbot/backupbot/storage/repo"
)

// restorable reports whether a node of this type is written back.
func restorable(typ string) bool {
	switch typ {
	case repo.NodeFile, repo.NodeSymlink, repo.NodeFIFO, repo.NodeCharDev, repo.NodeBlockDev:
		return true
	}
	return false
}

// fileType is the mknod file type of a special node's type.
var fileType = map[string]uint32{repo.NodeFIFO: unix.S_IFIFO, repo.NodeCharDev: unix.S_IFCHR, repo.NodeBlockDev: unix.S_IFBLK}

// special makes a FIFO or a device node (with its major and minor
// numbers) under a temporary name, sets its metadata and renames it into
// place. Only root can make device nodes; elsewhere they are skipped with
// a warning.
func (rs *restorer) special(it item) error {
	mode := uint32(it.node.FileMode().Perm()) | fileType[it.node.Type]
	if it.node.Type != repo.NodeFIFO && !rs.root {
		rs.warn("skipped device %s (%d:%d): only root can create device nodes", it.dest, unix.Major(it.node.Rdev), unix.Minor(it.node.Rdev))
		return nil
	}
	tmp := tempName(it.dest)
	if err := unix.Mknod(tmp, mode, int(it.node.Rdev)); err != nil {
		return fmt.Errorf("restoring %s: %w", quote.Name(it.dest), err)
	}
	rs.meta(tmp, it.node, false)
	if err := rs.replace(tmp, it.dest); err != nil {
		return err
	}
	rs.files.Add(1)
	return nil
}

// setXattrs restores extended attributes, POSIX ACLs included. It runs
// after chown (which clears file capabilities) and before chmod.
func (rs *restorer) setXattrs(p string, n *repo.Node) {
	for _, x := range n.Xattrs {
		if err := unix.Lsetxattr(p, x.Name, x.Value, 0); err != nil {
			rs.warn("cannot set the extended attribute %s of %s: %v", x.Name, p, err)
		}
	}
}

// hardLink is a name of a file whose content another name writes.
type hardLink struct {
	it item
	to string // the written name's destination
}

// splitLinks keeps, of every hard-linked file (same device and inode, same
// content), the first name to be written and returns the other names, to
// be linked to it once it is in place.
func splitLinks(files []item) ([]item, []hardLink) {
	type key struct{ dev, ino uint64 }
	first := map[key]item{}
	var links []hardLink
	out := files[:0:0]
	for _, it := range files {
		n := it.node
		if n.Links < 2 || n.Inode == 0 {
			out = append(out, it)
			continue
		}
		k := key{n.Device, n.Inode}
		if f, ok := first[k]; ok && slices.Equal(f.node.Content, n.Content) && f.node.Size == n.Size {
			links = append(links, hardLink{it: it, to: f.dest})
			continue
		}
		out = append(out, it)
		first[k] = it
	}
	return out, links
}

// writeLinks makes the other names of hard-linked files.
func (rs *restorer) writeLinks(links []hardLink) error {
	for _, l := range links {
		tmp := tempName(l.it.dest)
		if err := os.Link(l.to, tmp); err != nil {
			return fmt.Errorf("restoring %s as a hard link to %s: %w", quote.Name(l.it.dest), quote.Name(l.to), err)
		}
		if err := rs.replace(tmp, l.it.dest); err != nil {
			return err
		}
		rs.files.Add(1)
	}
	return nil
}

// sparseBlock is the granularity of holes a restore leaves: an all-zero
// block of a sparse file is not written.
const sparseBlock = 4096

var zeroBlock [sparseBlock]byte

// pwriteSparse writes data at off, skipping aligned all-zero blocks so
// that they stay holes (the file is truncated to its size at the end).
func pwriteSparse(fd int, data []byte, off int64) error {
	isZero := func(b []byte) bool { return bytes.Equal(b, zeroBlock[:len(b)]) }
	blockEnd := func(i int) int {
		return min(len(data), i+sparseBlock-int((off+int64(i))%sparseBlock))
	}
	for i := 0; i < len(data); {
		e := blockEnd(i)
		if isZero(data[i:e]) {
			i = e
			continue
		}
		j := e
		for j < len(data) {
			e := blockEnd(j)
			if isZero(data[j:e]) {
				break
			}
			j = e
		}
		if err := pwriteAll(fd, data[i:j], off+int64(i)); err != nil {
			return err
		}
		i = j
	}
	return nil
}

func pwriteAll(fd int, data []byte, off int64) error {
	for n := 0; n < len(data); {
		w, err := syscall.Pwrite(fd, data[n:], off+int64(n))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		n += w
	}
	return nil
}

// finishSparse gives a sparse file its full size (trailing holes).
func finishSparse(fd int, n *repo.Node) error {
	if !n.Sparse {
		return nil
	}
	return syscall.Ftruncate(fd, n.Size)
}
