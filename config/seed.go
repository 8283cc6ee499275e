package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// defaultTargetReadme is written into a default target directory that
// SeedDefaultTargets creates, so the first backup has something to show.
const defaultTargetReadme = "This directory is backupbot's default `data` target (embedded defaults).\n" +
	"Put files here and run `/backup create --target data`; restore them with `/backup restore --name NAME`.\n"

// SeedDefaultTargets creates the directories of f's targets that do not
// exist yet, each with a README, and returns the ones it created. It is
// for the embedded defaults (a fresh clone has no ./var/data); a
// configuration file's targets are the operator's and are left alone.
func (f *File) SeedDefaultTargets() ([]string, error) {
	names := make([]string, 0, len(f.Targets))
	for name := range f.Targets {
		names = append(names, name)
	}
	sort.Strings(names)
	var created []string
	var errs []error
	for _, name := range names {
		for _, p := range f.Targets[name].Paths {
			if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err := os.MkdirAll(p, 0o750); err != nil {
				errs = append(errs, fmt.Errorf("creating the directory of target %s: %w", name, err))
				continue
			}
			if err := os.WriteFile(filepath.Join(p, "README.txt"), []byte(defaultTargetReadme), 0o640); err != nil {
				errs = append(errs, fmt.Errorf("seeding the directory of target %s: %w", name, err))
				continue
			}
			created = append(created, p)
		}
	}
	return created, errors.Join(errs...)
}
