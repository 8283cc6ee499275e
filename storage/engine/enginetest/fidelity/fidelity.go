// Package fidelity builds a directory tree holding every kind of file and
// metadata a backup must keep (hard links, xattrs, POSIX ACLs, file
// capabilities, FIFOs, devices, sparse files, setuid/setgid/sticky modes,
// foreign owners, nanosecond times, a parent directory with its own mode
// and owner) and compares a restored copy with it, property by property.
// The engine's fidelity test and `make bench` (BENCH_ONLY=fidelity, which
// runs the same comparison for restic) share it. It needs root.
package fidelity

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Check is one property and whether the restored copy kept it.
type Check struct {
	Name   string
	OK     bool
	Detail string
}

// Foreign owners: ids no account on the machine has.
const (
	ForeignUID = 12345
	ForeignGID = 54321
	parentUID  = 4242
	parentGID  = 4243
	parentMode = fs.ModeSetgid | fs.ModeSticky | 0o750
	sparseSize = 64 << 20
)

// Make builds the tree at root/parent/tree and returns that source path.
// root must exist. The parent directory gets its own mode (setgid and
// sticky), owner and time, which a restore --to must give the copy it
// recreates.
func Make(root string) (string, error) {
	parent := filepath.Join(root, "parent")
	src := filepath.Join(parent, "tree")
	m := &maker{src: src}
	m.mkdir("", 0o755)
	m.file("plain", []byte(strings.Repeat("hello fidelity\n", 1000)), 0o644)
	m.file("hl-a", []byte("one file, two names\n"), 0o640)
	m.mkdir("sub", 0o750)
	m.do(os.Link(m.p("hl-a"), m.p("sub/hl-b")))
	m.file("xattr", []byte("attributes\n"), 0o644)
	m.setx("xattr", "user.comment", []byte("kept by the backup"))
	m.setx("xattr", "trusted.note", []byte("trusted namespace"))
	m.setx("xattr", "security.bbtest", []byte("security namespace"))
	m.file("caps", []byte("#!/bin/true\n"), 0o755)
	m.setx("caps", "security.capability", capNetBindService())
	m.file("acl-file", []byte("acl\n"), 0o644)
	m.setx("acl-file", "system.posix_acl_access", acl([3]uint32{1, 6, 0}, [3]uint32{2, 4, 1001}, [3]uint32{4, 4, 0}, [3]uint32{8, 6, 2002}, [3]uint32{0x10, 6, 0}, [3]uint32{0x20, 4, 0}))
	m.mkdir("acl-dir", 0o755)
	m.setx("acl-dir", "system.posix_acl_access", acl([3]uint32{1, 7, 0}, [3]uint32{2, 5, 1001}, [3]uint32{4, 5, 0}, [3]uint32{0x10, 5, 0}, [3]uint32{0x20, 5, 0}))
	m.setx("acl-dir", "system.posix_acl_default", acl([3]uint32{1, 7, 0}, [3]uint32{4, 5, 0}, [3]uint32{8, 7, 2002}, [3]uint32{0x10, 7, 0}, [3]uint32{0x20, 0, 0}))
	m.do(unix.Mkfifo(m.p("fifo"), 0o640))
	m.do(unix.Mknod(m.p("chardev"), unix.S_IFCHR|0o620, int(unix.Mkdev(1, 3))))
	m.do(unix.Mknod(m.p("blockdev"), unix.S_IFBLK|0o660, int(unix.Mkdev(7, 200))))
	m.sparse("sparse")
	m.file("suid", []byte("#!/bin/true\n"), 0o755)
	m.chmod("suid", fs.ModeSetuid|0o755)
	m.mkdir("sgid-dir", 0o775)
	m.chmod("sgid-dir", fs.ModeSetgid|0o775)
	m.mkdir("sticky-dir", 0o777)
	m.chmod("sticky-dir", fs.ModeSticky|0o777)
	m.file("foreign", []byte("not ours\n"), 0o600)
	m.do(os.Lchown(m.p("foreign"), ForeignUID, ForeignGID))
	m.mkdir("foreign-dir", 0o700)
	m.do(os.Lchown(m.p("foreign-dir"), ForeignUID, ForeignGID))
	m.do(os.Symlink("plain", m.p("link")))
	m.do(os.Lchown(m.p("link"), ForeignUID, ForeignGID))
	m.socket("sock")
	if m.err != nil {
		return "", m.err
	}
	// Times last, deepest first, each with its own nanoseconds.
	var paths []string
	_ = filepath.WalkDir(src, func(p string, _ fs.DirEntry, err error) error {
		if err == nil {
			paths = append(paths, p)
		}
		return nil
	})
	slices.Reverse(paths)
	for i, p := range paths {
		setTime(m, p, int64(1_700_000_000+i), int64(100_000_007*(i+1))%1_000_000_000)
	}
	m.do(os.Chown(parent, parentUID, parentGID))
	m.do(os.Chmod(parent, parentMode))
	setTime(m, parent, 1_600_000_000, 987_654_321)
	return src, m.err
}

type maker struct {
	src string
	err error
}

func (m *maker) p(rel string) string { return filepath.Join(m.src, rel) }

func (m *maker) do(err error) {
	if err != nil && m.err == nil {
		m.err = err
	}
}

func (m *maker) mkdir(rel string, mode fs.FileMode) {
	m.do(os.MkdirAll(m.p(rel), mode))
	m.do(os.Chmod(m.p(rel), mode))
}

func (m *maker) chmod(rel string, mode fs.FileMode) { m.do(os.Chmod(m.p(rel), mode)) }

func (m *maker) file(rel string, data []byte, mode fs.FileMode) {
	m.do(os.WriteFile(m.p(rel), data, mode))
	m.chmod(rel, mode)
}

func (m *maker) setx(rel, name string, v []byte) {
	if err := unix.Lsetxattr(m.p(rel), name, v, 0); err != nil {
		m.do(fmt.Errorf("setting %s on %s: %w", name, rel, err))
	}
}

// sparse makes a 64 MiB file with data only at 1 MiB and in its last 4 KiB.
func (m *maker) sparse(rel string) {
	f, err := os.Create(m.p(rel))
	if err != nil {
		m.do(err)
		return
	}
	defer f.Close()
	_, err = f.WriteAt(bytes.Repeat([]byte("data in a sparse file "), 200), 1<<20)
	m.do(err)
	_, err = f.WriteAt(bytes.Repeat([]byte{0xAB}, 4096), sparseSize-4096)
	m.do(err)
}

func (m *maker) socket(rel string) {
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: m.p(rel), Net: "unix"})
	if err != nil {
		m.do(err)
		return
	}
	l.SetUnlinkOnClose(false)
	m.do(l.Close())
}

func setTime(m *maker, p string, sec, nsec int64) {
	ts := []unix.Timespec{{Sec: sec, Nsec: nsec}, {Sec: sec, Nsec: nsec}}
	m.do(unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW))
}

// acl encodes a POSIX ACL xattr value: entries of (tag, perm, id).
func acl(entries ...[3]uint32) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 2)
	for _, e := range entries {
		id := e[2]
		if e[0] != 2 && e[0] != 8 {
			id = 0xFFFFFFFF
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(e[0]))
		b = binary.LittleEndian.AppendUint16(b, uint16(e[1]))
		b = binary.LittleEndian.AppendUint32(b, id)
	}
	return b
}

// capNetBindService is a version 2 file capability: cap_net_bind_service+ep.
func capNetBindService() []byte {
	b := binary.LittleEndian.AppendUint32(nil, 0x02000001)
	b = binary.LittleEndian.AppendUint32(b, 1<<10)
	return append(b, make([]byte, 12)...)
}

type info struct {
	st     unix.Stat_t
	target string
	xattrs map[string]string
	data   []byte
	err    error
}

func read(p string) info {
	var in info
	if in.err = unix.Lstat(p, &in.st); in.err != nil {
		return in
	}
	in.xattrs = map[string]string{}
	if sz, err := unix.Llistxattr(p, nil); err == nil && sz > 0 {
		buf := make([]byte, sz)
		n, _ := unix.Llistxattr(p, buf)
		for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
			v := make([]byte, 65536)
			if n, err := unix.Lgetxattr(p, name, v); err == nil {
				in.xattrs[name] = string(v[:n])
			}
		}
	}
	switch in.st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		in.target, in.err = os.Readlink(p)
	case unix.S_IFREG:
		in.data, in.err = os.ReadFile(p)
	}
	return in
}

// Compare checks the restored copy (restored = the destination path of
// src) against src, one Check per property.
func Compare(src, restored string) []Check {
	var cs []Check
	add := func(name string, problems []string) {
		c := Check{Name: name, OK: len(problems) == 0}
		if !c.OK {
			c.Detail = strings.Join(problems, "; ")
			if len(c.Detail) > 300 {
				c.Detail = c.Detail[:300] + "…"
			}
		}
		cs = append(cs, c)
	}
	get := func(rel string) (info, info) {
		return read(filepath.Join(src, rel)), read(filepath.Join(restored, rel))
	}
	missing := func(rel string, b info) []string {
		if b.err != nil {
			return []string{rel + ": " + b.err.Error()}
		}
		return nil
	}

	// Every entry: kind, mode, owner, nanosecond mtime, content.
	var rels []string
	_ = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSocket == 0 {
			rel, _ := filepath.Rel(src, p)
			rels = append(rels, rel)
		}
		return nil
	})
	var present, modes, owners, times, content []string
	for _, rel := range rels {
		a, b := get(rel)
		if b.err != nil {
			present = append(present, rel)
			continue
		}
		if a.st.Mode != b.st.Mode {
			modes = append(modes, fmt.Sprintf("%s %o≠%o", rel, b.st.Mode, a.st.Mode))
		}
		if a.st.Uid != b.st.Uid || a.st.Gid != b.st.Gid {
			owners = append(owners, fmt.Sprintf("%s %d:%d≠%d:%d", rel, b.st.Uid, b.st.Gid, a.st.Uid, a.st.Gid))
		}
		if a.st.Mtim != b.st.Mtim {
			times = append(times, fmt.Sprintf("%s %d.%09d≠%d.%09d", rel, b.st.Mtim.Sec, b.st.Mtim.Nsec, a.st.Mtim.Sec, a.st.Mtim.Nsec))
		}
		if !bytes.Equal(a.data, b.data) || a.target != b.target {
			content = append(content, rel)
		}
	}
	add("every entry restored", present)
	add("content and symlink targets", content)
	add("modes (all entries)", modes)
	add("owners (all entries)", owners)
	add("nanosecond mtimes (all entries)", times)

	one := func(name, rel string, f func(a, b info) []string) {
		a, b := get(rel)
		if p := missing(rel, b); p != nil {
			add(name, p)
			return
		}
		add(name, f(a, b))
	}
	xattr := func(key string) func(a, b info) []string {
		return func(a, b info) []string {
			if a.xattrs[key] != b.xattrs[key] {
				return []string{fmt.Sprintf("%s: %d bytes, want %d", key, len(b.xattrs[key]), len(a.xattrs[key]))}
			}
			return nil
		}
	}
	one("hard links", "sub/hl-b", func(_, b info) []string {
		var other unix.Stat_t
		if err := unix.Lstat(filepath.Join(restored, "hl-a"), &other); err != nil || other.Ino != b.st.Ino {
			return []string{"hl-a and sub/hl-b are separate files"}
		}
		return nil
	})
	one("xattr user.*", "xattr", xattr("user.comment"))
	one("xattr trusted.*", "xattr", xattr("trusted.note"))
	one("xattr security.*", "xattr", xattr("security.bbtest"))
	one("file capabilities", "caps", xattr("security.capability"))
	one("POSIX ACL (access, file)", "acl-file", xattr("system.posix_acl_access"))
	one("POSIX ACL (access, dir)", "acl-dir", xattr("system.posix_acl_access"))
	one("POSIX ACL (default)", "acl-dir", xattr("system.posix_acl_default"))
	kind := func(want uint32) func(a, b info) []string {
		return func(a, b info) []string {
			if b.st.Mode&unix.S_IFMT != want || a.st.Rdev != b.st.Rdev {
				return []string{fmt.Sprintf("mode %o rdev %d:%d", b.st.Mode, unix.Major(b.st.Rdev), unix.Minor(b.st.Rdev))}
			}
			return nil
		}
	}
	one("FIFO", "fifo", kind(unix.S_IFIFO))
	one("character device (1:3)", "chardev", kind(unix.S_IFCHR))
	one("block device (7:200)", "blockdev", kind(unix.S_IFBLK))
	one("sparse file keeps its holes", "sparse", func(a, b info) []string {
		if !bytes.Equal(a.data, b.data) {
			return []string{"content differs"}
		}
		if b.st.Blocks*512 > a.st.Blocks*512+(256<<10) {
			return []string{fmt.Sprintf("%d KiB allocated, the source has %d KiB", b.st.Blocks/2, a.st.Blocks/2)}
		}
		return nil
	})
	for _, s := range []struct{ name, rel string }{{"setuid", "suid"}, {"setgid", "sgid-dir"}, {"sticky", "sticky-dir"}} {
		one(s.name+" mode", s.rel, func(a, b info) []string {
			if a.st.Mode != b.st.Mode {
				return []string{fmt.Sprintf("%o, want %o", b.st.Mode, a.st.Mode)}
			}
			return nil
		})
	}
	for _, rel := range []string{"foreign", "foreign-dir", "link"} {
		one("foreign uid/gid ("+rel+")", rel, func(_, b info) []string {
			if b.st.Uid != ForeignUID || b.st.Gid != ForeignGID {
				return []string{fmt.Sprintf("%d:%d", b.st.Uid, b.st.Gid)}
			}
			return nil
		})
	}
	one("socket skipped", ".", func(_, _ info) []string {
		if _, err := os.Lstat(filepath.Join(restored, "sock")); err == nil {
			return []string{"a socket file was restored"}
		}
		return nil
	})
	pa, pb := read(filepath.Dir(src)), read(filepath.Dir(restored))
	var pp []string
	if pb.err != nil {
		pp = append(pp, pb.err.Error())
	} else {
		if pa.st.Mode != pb.st.Mode {
			pp = append(pp, fmt.Sprintf("mode %o, want %o", pb.st.Mode, pa.st.Mode))
		}
		if pa.st.Uid != pb.st.Uid || pa.st.Gid != pb.st.Gid {
			pp = append(pp, fmt.Sprintf("owner %d:%d, want %d:%d", pb.st.Uid, pb.st.Gid, pa.st.Uid, pa.st.Gid))
		}
		if pa.st.Mtim != pb.st.Mtim {
			pp = append(pp, "mtime differs")
		}
	}
	add("parent directory made by restore --to (mode, owner, mtime)", pp)
	return cs
}

// Table renders checks side by side: one row per property, one column
// per tool.
func Table(tools []string, results map[string][]Check) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-60s", "property")
	for _, t := range tools {
		fmt.Fprintf(&b, " %-10s", t)
	}
	b.WriteString("\n")
	for i, c := range results[tools[0]] {
		fmt.Fprintf(&b, "%-60s", c.Name)
		for _, t := range tools {
			mark := "kept"
			if r := results[t]; i < len(r) && !r[i].OK {
				mark = "LOST"
			}
			fmt.Fprintf(&b, " %-10s", mark)
		}
		b.WriteString("\n")
	}
	for _, t := range tools {
		for _, c := range results[t] {
			if !c.OK {
				fmt.Fprintf(&b, "  %s, %s: %s\n", t, c.Name, c.Detail)
			}
		}
	}
	return b.String()
}
