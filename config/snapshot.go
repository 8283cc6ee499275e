package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/storage"
)

// VersionEmbedded is the Version of a snapshot of the embedded defaults.
const VersionEmbedded = "embedded"

// Snapshot is one configuration in force: the file, the policy compiled
// from its policy section, and the command parser that knows its names,
// all from one read of one file. It is immutable: a reload builds a new
// Snapshot and swaps it in whole, so the router, the parser, /readyz, the
// workers and the scheduler never see half of an old one and half of a
// new one.
type Snapshot struct {
	// File is the configuration. Treat it as read-only.
	File *File
	// Policy is File.Policy compiled, with the configured locations.
	Policy *policy.Policy
	// Path is the file it came from ("" for the embedded defaults).
	Path string
	// Version is the first 12 hex digits of the file's SHA-256
	// (VersionEmbedded for the defaults).
	Version string

	parser commands.Parser
}

// LoadSnapshot reads the file at path once and builds its snapshot. Any
// error (YAML, an unknown key, a bad storage, a bad policy rule) names the
// file and, when known, the line; nothing of the file is used then.
func LoadSnapshot(path string) (*Snapshot, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: cannot read %s: %w", path, err)
	}
	f, err := parse(data, path)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	return NewSnapshot(f, path, hex.EncodeToString(sum[:])[:12])
}

// ResolveSnapshot finds the configuration as Resolve does and reads it
// once into a snapshot.
func ResolveSnapshot(flagPath string) (*Snapshot, error) {
	path, err := resolvePath(flagPath)
	if err != nil {
		return nil, err
	}
	if path == "" {
		return NewSnapshot(Defaults(), "", VersionEmbedded)
	}
	return LoadSnapshot(path)
}

// NewSnapshot compiles f (already validated, e.g. by Load, and not changed
// afterwards) into a snapshot.
func NewSnapshot(f *File, path, version string) (*Snapshot, error) {
	p, err := policy.New(f.Policy)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", nameOf(path), err)
	}
	return &Snapshot{File: f, Policy: p.WithLocations(f.Locations()), Path: path, Version: version, parser: f.Parser()}, nil
}

func nameOf(path string) string {
	if path == "" {
		return "(embedded defaults)"
	}
	return path
}

// Parser is the command parser that knows this configuration's target and
// storage names and the export formats this machine can write.
func (s *Snapshot) Parser() commands.Parser { return s.parser }

// Locations are the directories the configuration names (local and
// network storages, targets), absolute: by default a path typed into a
// chat command must lie inside one of them (see policy.Rule.Paths).
func (f *File) Locations() []string {
	var out []string
	add := func(p string) {
		if p == "" {
			return
		}
		if abs, err := filepath.Abs(p); err == nil {
			out = append(out, abs)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(f.Storages)) {
		if s := f.Storages[name]; s.Type == storage.KindLocal || s.Type == storage.KindNetwork {
			add(s.Path)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(f.Targets)) {
		for _, p := range f.Targets[name].Paths {
			add(p)
		}
	}
	return out
}
