package archiver

import (
	"errors"
	"io/fs"
	"os"
	"sort"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// maxOpenDirs bounds the directories the walk keeps open (one per level
// of the path it is in); below that depth entries are looked up by path.
const maxOpenDirs = 128

// dir is one directory being walked: its entries' names, sorted, and the
// open directory that lstat looks them up in (no path walk per entry).
type dir struct {
	f     *os.File
	names []string
}

// openDir lists a directory. Its error is what os.ReadDir gives (the
// names read before it are kept). Close it once its entries are done.
func (a *archiver) openDir(abs string) (*dir, error) {
	f, err := os.Open(abs)
	if err != nil {
		return &dir{}, err
	}
	names, err := f.Readdirnames(-1)
	sort.Strings(names)
	d := &dir{f: f, names: names}
	if a.openDirs < maxOpenDirs {
		a.openDirs++
	} else {
		_ = f.Close()
		d.f = nil
	}
	return d, err
}

func (a *archiver) closeDir(d *dir) {
	if d.f != nil {
		_ = d.f.Close()
		d.f = nil
		a.openDirs--
	}
}

// lstat returns the entry's metadata, as os.Lstat(full) does. A path too
// long for the system is looked up by path all the same, so that it is
// skipped here (everything after the lstat uses the path) as before.
func (d *dir) lstat(full, name string) (fs.FileInfo, error) {
	if d.f == nil || len(full) >= unix.PathMax {
		return os.Lstat(full)
	}
	var st unix.Stat_t
	for {
		err := unix.Fstatat(int(d.f.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "lstat", Path: full, Err: err}
		}
		break
	}
	return &fileInfo{name: name, st: syscall.Stat_t{
		Dev: st.Dev, Ino: st.Ino, Nlink: st.Nlink, Mode: st.Mode, Uid: st.Uid, Gid: st.Gid, Rdev: st.Rdev,
		Size: st.Size, Blksize: st.Blksize, Blocks: st.Blocks,
		Atim: syscall.Timespec{Sec: st.Atim.Sec, Nsec: st.Atim.Nsec},
		Mtim: syscall.Timespec{Sec: st.Mtim.Sec, Nsec: st.Mtim.Nsec},
		Ctim: syscall.Timespec{Sec: st.Ctim.Sec, Nsec: st.Ctim.Nsec},
	}}, nil
}

// fileInfo is fs.FileInfo from a stat, as the os package makes it.
type fileInfo struct {
	name string
	st   syscall.Stat_t
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.st.Size }
func (fi *fileInfo) IsDir() bool        { return fi.Mode().IsDir() }
func (fi *fileInfo) ModTime() time.Time { return time.Unix(fi.st.Mtim.Sec, fi.st.Mtim.Nsec) }
func (fi *fileInfo) Sys() any           { return &fi.st }

func (fi *fileInfo) Mode() fs.FileMode {
	m := fs.FileMode(fi.st.Mode & 0o777)
	switch fi.st.Mode & syscall.S_IFMT {
	case syscall.S_IFBLK:
		m |= fs.ModeDevice
	case syscall.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFDIR:
		m |= fs.ModeDir
	case syscall.S_IFIFO:
		m |= fs.ModeNamedPipe
	case syscall.S_IFLNK:
		m |= fs.ModeSymlink
	case syscall.S_IFSOCK:
		m |= fs.ModeSocket
	}
	if fi.st.Mode&syscall.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if fi.st.Mode&syscall.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if fi.st.Mode&syscall.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}
