// Package randid makes the short random identifiers backupbot hands out
// (job, approval, confirmation and lock ids, leader tokens): n bytes from
// crypto/rand written as 2n lowercase hex digits.
package randid

import (
	"crypto/rand"
	"encoding/hex"
)

// Hex returns n random bytes as 2n lowercase hex digits.
func Hex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
