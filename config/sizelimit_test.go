package config

import (
	"testing"

	"github.com/backupbot/backupbot/storage"
)

func TestSizeLimit(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "500GiB": 500 << 30, "2TB": 2e12, "1KiB": 1024} {
		got, err := SizeLimit(storage.Spec{SizeLimit: in})
		if err != nil || got != want {
			t.Errorf("SizeLimit(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"half", "-5GB", "0"} {
		if _, err := SizeLimit(storage.Spec{SizeLimit: bad}); err == nil {
			t.Errorf("SizeLimit(%q) accepted it", bad)
		}
	}
}
