package engine_test

import (
	"testing"

	"github.com/backupbot/backupbot/storage/azure"
	"github.com/backupbot/backupbot/storage/azure/azuretest"
	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/engine/enginetest"
	"github.com/backupbot/backupbot/storage/s3"
	"github.com/backupbot/backupbot/storage/s3/s3test"
)

// TestCopyToLocalAndS3 copies a local repository's snapshots to a second
// local repository and to S3, each under its own password.
func TestCopyToLocalAndS3(t *testing.T) {
	rep := enginetest.RunCopy(t, map[string]func(t *testing.T) backend.Backend{
		"local2": newLocal,
		"s3":     func(t *testing.T) backend.Backend { return s3test.New(t, s3.Options{}) },
	})
	t.Logf("copy: first %d bytes written, second %d (new file data %d)", rep.FirstCopyBytes, rep.SecondCopyBytes, rep.SecondCopyNewData)
}

// TestCopyToS3AndAzure is the same with two cloud copies.
func TestCopyToS3AndAzure(t *testing.T) {
	enginetest.RunCopy(t, map[string]func(t *testing.T) backend.Backend{
		"s3":    func(t *testing.T) backend.Backend { return s3test.New(t, s3.Options{}) },
		"azure": func(t *testing.T) backend.Backend { return azuretest.New(t, azure.Options{}) },
	})
}
