package dbdump

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockPoll is how often LockDir tries again while another job holds the lock.
const lockPoll = 100 * time.Millisecond

// LockDir takes an exclusive lock on the dump directory dir (an flock on
// dir/.lock) and waits for it until ctx is done. Jobs dumping the same
// database share its dump path; holding the lock from the dump until the
// dump is backed up and removed keeps one job from truncating or deleting
// another's file, in this process or any other on the host. The kernel
// drops the lock if the process dies, so a crash leaves nothing stale.
func LockDir(ctx context.Context, dir string) (release func(), err error) {
	name := filepath.Join(dir, ".lock")
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the dump lock %s: %w", name, err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing the file releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock the dump directory %s: %w", dir, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for another job dumping to %s: %w", dir, context.Cause(ctx))
		case <-time.After(lockPoll):
		}
	}
}
