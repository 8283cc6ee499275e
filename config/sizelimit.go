package config

import (
	"fmt"
	"strings"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/storage"
)

// SizeLimit is a storage's size_limit in bytes (0: none), read with the
// command language's size parser (500GiB, 2TB).
func SizeLimit(s storage.Spec) (int64, error) {
	if strings.TrimSpace(s.SizeLimit) == "" {
		return 0, nil
	}
	n, err := commands.ParseSize(s.SizeLimit)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("size_limit %q is not a size: write it like 500GiB or 2TB", s.SizeLimit)
	}
	return int64(n), nil
}
