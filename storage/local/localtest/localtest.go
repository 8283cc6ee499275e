// Package localtest gives tests a local backend on a fresh temporary
// directory, as azuretest, s3test and smbtest do for the other backends.
package localtest

import (
	"testing"

	"github.com/backupbot/backupbot/storage/local"
)

// New opens a backend on a new temporary directory that is removed when
// the test ends.
func New(t testing.TB, opts ...local.Option) *local.Backend {
	t.Helper()
	b, err := local.New(t.TempDir(), opts...)
	if err != nil {
		t.Fatalf("local.New on a temporary directory: %v", err)
	}
	return b
}
