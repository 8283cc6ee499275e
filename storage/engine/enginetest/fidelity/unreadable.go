package fidelity

import (
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Unreadable makes, below dir, a file that a backup honestly cannot read,
// even as root: it lies in a directory whose path is just under PATH_MAX
// (4096 bytes), so the directory lists but the file's own path is too
// long to open or stat (ENAMETOOLONG). Directories are made with
// mkdirat/openat, one level at a time. It returns the file's path.
func Unreadable(dir string) (string, error) {
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	p := dir
	for i := 0; len(p) < 3900; i++ {
		name := fmt.Sprintf("deep%02d-", i)
		name += strings.Repeat("d", min(200, 4000-len(p)-1)-len(name))
		if err := unix.Mkdirat(fd, name, 0o755); err != nil {
			unix.Close(fd)
			return "", fmt.Errorf("mkdir below %s: %w", dir, err)
		}
		next, err := unix.Openat(fd, name, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return "", err
		}
		fd, p = next, p+"/"+name
	}
	defer unix.Close(fd)
	name := "unreadable-" + strings.Repeat("x", 240)
	f, err := unix.Openat(fd, name, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return "", err
	}
	_, err = unix.Write(f, []byte("this file cannot be backed up by path\n"))
	unix.Close(f)
	return filepath.Join(p, name), err
}
