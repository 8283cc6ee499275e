package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/backupbot/backupbot/storage/backend"
)

// classify wraps an operating-system error of an operation on the
// repository directory so that callers can tell what it means: a full
// disk (backend.ErrNoSpace) or a refused permission
// (backend.ErrAccessDenied), both permanent: retrying cannot fix them,
// the operator has to. where names the operation ("put data/ab/…").
// Other errors are wrapped as they are (retried by the retry wrapper).
func (b *Backend) classify(where string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("local storage %s: %s: no space left on the storage (the file system holding %s is full or over its quota): free space there or move the repository to a larger disk, then run the command again: %w: %w: %w",
			b.dir, where, b.dir, err, backend.ErrNoSpace, backend.ErrPermanent)
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EROFS), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("local storage %s: %s: permission denied: the worker (uid %d) may not write there, or the file system is mounted read-only: fix the directory's owner and mode or the mount, then run the command again: %w: %w: %w",
			b.dir, where, os.Geteuid(), err, backend.ErrAccessDenied, backend.ErrPermanent)
	}
	return fmt.Errorf("local storage %s: %s: %w", b.dir, where, err)
}
