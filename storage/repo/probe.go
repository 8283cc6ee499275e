package repo

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/backupbot/backupbot/storage/backend"
)

// ErrConfigMissing is wrapped by Init and Open when a location has no
// config file but holds what only a repository writes (index files,
// snapshots, packs, or key files no given password opens): the config was
// deleted or lost, and creating a repository there would put every
// existing backup out of reach.
var ErrConfigMissing = errors.New("the repository's config file is missing")

// Contents counts the files of each kind a location holds besides config.
type Contents struct {
	Keys      int `json:"keys"`
	Index     int `json:"index"`
	Snapshots int `json:"snapshots"`
	Packs     int `json:"packs"`
}

// Data reports whether the location holds index files, snapshots or packs.
func (c Contents) Data() bool { return c.Index+c.Snapshots+c.Packs > 0 }

// String lists the non-zero counts: "2 key files, 1 index file, 3 snapshots, 12 packs".
func (c Contents) String() string {
	var parts []string
	add := func(n int, one, many string) {
		switch {
		case n == 1:
			parts = append(parts, "1 "+one)
		case n > 1:
			parts = append(parts, fmt.Sprintf("%d %s", n, many))
		}
	}
	add(c.Keys, "key file", "key files")
	add(c.Index, "index file", "index files")
	add(c.Snapshots, "snapshot", "snapshots")
	add(c.Packs, "pack", "packs")
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// Probe counts what be holds under the repository's prefixes (keys,
// index, snapshots, data). It reads listings only.
func Probe(ctx context.Context, be backend.Backend) (Contents, error) {
	var c Contents
	for _, p := range []struct {
		prefix string
		n      *int
	}{{keysPrefix, &c.Keys}, {indexPrefix, &c.Index}, {snapshotPrefix, &c.Snapshots}, {dataPrefix, &c.Packs}} {
		if err := be.List(ctx, p.prefix, func(backend.Info) error { *p.n++; return nil }); err != nil {
			return c, fmt.Errorf("listing %s of %s: %w", strings.TrimSuffix(p.prefix, "/"), be.Location(), err)
		}
	}
	return c, nil
}

// ConfigMissingError says that a location without config holds repository
// files; it wraps ErrConfigMissing.
type ConfigMissingError struct {
	Location string
	Found    Contents
	// Encrypted is true when key files are there: the master key is in them
	// and a config can be rebuilt with a password that opens one.
	Encrypted bool
}

func (e *ConfigMissingError) Error() string {
	return fmt.Sprintf("%s has no config file but holds %s: the repository's config was deleted or lost", e.Location, e.Found)
}

func (e *ConfigMissingError) Unwrap() error { return ErrConfigMissing }

// checkNoOrphans refuses to initialise a location that holds repository
// files without a config. Key files alone are what an interrupted (or a
// concurrent) creation leaves; they are accepted when one of them opens
// with password, so a creator with the same password can try again, and
// refused otherwise.
func checkNoOrphans(ctx context.Context, be backend.Backend, password string) error {
	c, err := Probe(ctx, be)
	if err != nil {
		return err
	}
	if !c.Data() && c.Keys == 0 {
		return nil
	}
	if !c.Data() && password != "" {
		opens := false
		err := be.List(ctx, keysPrefix, func(i backend.Info) error {
			if _, err := openKey(ctx, be, i.Key, password); err == nil {
				opens = true
				return errStopListing
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopListing) {
			return fmt.Errorf("reading the key files of %s: %w", be.Location(), err)
		}
		if opens {
			return nil
		}
	}
	return &ConfigMissingError{Location: be.Location(), Found: c, Encrypted: c.Keys > 0}
}

var errStopListing = errors.New("stop listing")
