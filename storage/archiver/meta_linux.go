package archiver

import (
	"errors"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/backupbot/backupbot/internal/quote"
	"github.com/backupbot/backupbot/storage/repo"
)

// nodeSocket marks a socket, which is never stored.
const nodeSocket = "socket"

// xattrs stores a path's extended attributes (user, trusted, security and
// system ones, POSIX ACLs included) on its node. A failure is a warning:
// the contents are still backed up.
func (a *archiver) xattrs(p string, n *repo.Node) {
	xs, err := readXattrs(p)
	if err != nil {
		a.warn("cannot read the extended attributes of %s: %v", quote.Name(p), err)
	}
	n.Xattrs = xs
}

func readXattrs(p string) ([]repo.Xattr, error) {
	var buf []byte
	for {
		size, err := unix.Llistxattr(p, nil)
		if err != nil {
			if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.ENOENT) {
				return nil, nil
			}
			return nil, err
		}
		if size == 0 {
			return nil, nil
		}
		buf = make([]byte, size)
		n, err := unix.Llistxattr(p, buf)
		if errors.Is(err, unix.ERANGE) {
			continue // grew meanwhile
		}
		if err != nil {
			return nil, err
		}
		buf = buf[:n]
		break
	}
	var out []repo.Xattr
	for _, name := range strings.Split(strings.TrimRight(string(buf), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		v, err := getXattr(p, name)
		if errors.Is(err, unix.ENODATA) {
			continue // removed meanwhile
		}
		if err != nil {
			return out, err
		}
		out = append(out, repo.Xattr{Name: name, Value: v})
	}
	slices.SortFunc(out, func(a, b repo.Xattr) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func getXattr(p, name string) ([]byte, error) {
	for {
		size, err := unix.Lgetxattr(p, name, nil)
		if err != nil {
			return nil, err
		}
		v := make([]byte, size)
		n, err := unix.Lgetxattr(p, name, v)
		if errors.Is(err, unix.ERANGE) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return v[:n], nil
	}
}
