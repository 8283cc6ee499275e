package config

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// checkCopies checks a list of copy storages: each a configured storage,
// none twice.
func (f *File) checkCopies(copies []string, path ...string) error {
	for i, c := range copies {
		key := append(slices.Clone(path), fmt.Sprintf("[%d]", i))
		if _, ok := f.Storages[c]; !ok {
			return at(fmt.Sprintf("%s is not a configured storage; copies name storages: %s",
				strconv.Quote(c), strings.Join(slices.Sorted(maps.Keys(f.Storages)), ", ")), key...)
		}
		if slices.Index(copies, c) < i {
			return at(fmt.Sprintf("storage %s is named twice", strconv.Quote(c)), key...)
		}
	}
	return nil
}

// CopiesOf returns the storages a new snapshot of target is copied to
// after a backup to storage primary (the target's copies: without
// primary), in the configured order.
func (f *File) CopiesOf(target, primary string) []string {
	t, ok := f.Targets[target]
	if !ok {
		return nil
	}
	out := make([]string, 0, len(t.Copies))
	for _, c := range t.Copies {
		if c != primary {
			out = append(out, c)
		}
	}
	return out
}
