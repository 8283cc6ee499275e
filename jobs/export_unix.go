//go:build unix

package jobs

import (
	"io/fs"
	"syscall"
)

// statIDs returns the numeric owner of a file.
func statIDs(info fs.FileInfo) (int, int) {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid)
	}
	return 0, 0
}
