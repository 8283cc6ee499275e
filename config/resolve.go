package config

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/storage"
)

// NamedStorage is a storage resolved from a command: its configured name
// (or the kind, for a one-off location) and its spec.
type NamedStorage struct {
	Name string
	Spec storage.Spec
}

// storageKinds are the words --storage accepts besides configured names.
var storageKinds = []string{storage.KindLocal, storage.KindNetwork, storage.KindS3, storage.KindAWS, storage.KindAzure}

// ResolveStorage turns a command's StorageRef into one storage:
//   - no --storage: the storage named "local" if configured, else the only
//     configured storage (or, with --path, a one-off local storage there);
//   - a configured name: that storage;
//   - a kind (local, network, s3, aws, azure): the one configured storage of
//     that kind, or, with --path/--bucket/--container, a one-off storage of
//     that kind at that location (inheriting endpoint and options from a
//     configured storage of the same kind, if any);
//
// and --path, --bucket, --container, --region override the location. Its
// errors are bad input: they say which names the configuration has.
func (f *File) ResolveStorage(ref commands.StorageRef) (NamedStorage, error) {
	name := strings.TrimSpace(ref.Name)
	var ns NamedStorage
	_, configured := f.Storages[name]
	switch {
	case name == "":
		if s, ok := f.Storages[storage.KindLocal]; ok {
			ns = NamedStorage{storage.KindLocal, s}
		} else if len(f.Storages) == 1 {
			for n, s := range f.Storages {
				ns = NamedStorage{n, s}
			}
		} else if oneOff(storage.KindLocal, ref) {
			ns = NamedStorage{storage.KindLocal, storage.Spec{Type: storage.KindLocal}}
		} else {
			return ns, fmt.Errorf("several storages are configured (%s): say which with --storage", names(f.Storages))
		}
	case configured:
		ns = NamedStorage{name, f.Storages[name]}
	case slices.Contains(storageKinds, name):
		kind := normalKind(name)
		var same []string
		for n, s := range f.Storages {
			if normalKind(s.Type) == kind {
				same = append(same, n)
			}
		}
		sort.Strings(same)
		switch {
		case oneOff(kind, ref):
			ns = NamedStorage{name, storage.Spec{Type: name}}
			if len(same) > 0 {
				ns.Spec = f.Storages[same[0]]
			}
		case len(same) == 1:
			ns = NamedStorage{same[0], f.Storages[same[0]]}
		case len(same) == 0:
			return ns, fmt.Errorf("no %s storage is configured (configured: %s); add one under storages: in the config", name, names(f.Storages))
		default:
			return ns, fmt.Errorf("several %s storages are configured (%s): name one with --storage", name, strings.Join(same, ", "))
		}
	default:
		return ns, fmt.Errorf("unknown storage %q: configured are %s (or a kind: %s)", name, names(f.Storages), strings.Join(storageKinds, ", "))
	}
	if ref.Path != "" {
		if err := checkPathOverride(ns, ns.Spec, ref.Path); err != nil {
			return ns, err
		}
		ns.Spec.Path = ref.Path
	}
	if ref.Bucket != "" {
		ns.Spec.Bucket = ref.Bucket
	}
	if ref.Container != "" {
		ns.Spec.Container = ref.Container
	}
	if ref.Region != "" {
		ns.Spec.Region = ref.Region
	}
	if ns.Spec.Type == "" {
		ns.Spec.Type = storage.KindLocal
	}
	if !ns.Spec.IsRemote() && ns.Spec.Path == "" {
		return ns, fmt.Errorf("storage %s has no path: set path: in the config or pass --path", ns.Name)
	}
	return ns, nil
}

// normalKind maps the aws alias to s3 and an unset type to local.
func normalKind(k string) string {
	switch k {
	case storage.KindAWS:
		return storage.KindS3
	case "":
		return storage.KindLocal
	}
	return k
}

// oneOff reports whether the overrides locate a repository of that kind by
// themselves.
func oneOff(kind string, ref commands.StorageRef) bool {
	switch normalKind(kind) {
	case storage.KindLocal, storage.KindNetwork:
		return ref.Path != ""
	case storage.KindS3:
		return ref.Bucket != ""
	case storage.KindAzure:
		return ref.Container != ""
	}
	return false
}

// ResolveStorages is ResolveStorage for list, which also takes groups of
// configured storages: all (every one), remote (every off-machine one) and,
// without --path, local (every local or network one), in name order.
func (f *File) ResolveStorages(ref commands.StorageRef) ([]NamedStorage, error) {
	var pick func(storage.Spec) bool
	switch strings.TrimSpace(ref.Name) {
	case "all":
		pick = func(storage.Spec) bool { return true }
	case "remote":
		pick = storage.Spec.IsRemote
	case storage.KindLocal:
		if ref.Path == "" {
			pick = func(s storage.Spec) bool { return !s.IsRemote() }
		}
	}
	if pick == nil {
		ns, err := f.ResolveStorage(ref)
		if err != nil {
			return nil, err
		}
		return []NamedStorage{ns}, nil
	}
	var out []NamedStorage
	for _, n := range slices.Sorted(maps.Keys(f.Storages)) {
		if s := f.Storages[n]; pick(s) {
			out = append(out, NamedStorage{n, s})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s storage is configured (configured: %s)", strings.TrimSpace(ref.Name), names(f.Storages))
	}
	return out, nil
}

// NamedTarget is a configured target and its name.
type NamedTarget struct {
	Name   string
	Target Target
}

// ResolveTargets turns --target into configured targets: "all" or ""
// means every one, in name order. Its errors are bad input.
func (f *File) ResolveTargets(name string) ([]NamedTarget, error) {
	if name == "" || name == "all" {
		if len(f.Targets) == 0 {
			return nil, errors.New("no targets are configured: add some under targets: in the config")
		}
		var out []NamedTarget
		for _, n := range slices.Sorted(maps.Keys(f.Targets)) {
			out = append(out, NamedTarget{n, f.Targets[n]})
		}
		return out, nil
	}
	t, ok := f.Targets[name]
	if !ok {
		return nil, fmt.Errorf("unknown target %q: configured targets are %s", name, names(f.Targets))
	}
	if len(t.Paths) == 0 {
		return nil, fmt.Errorf("target %q has no paths in the config", name)
	}
	return []NamedTarget{{name, t}}, nil
}

// names lists a map's keys for a message: "a, b, c", or "none".
func names[V any](m map[string]V) string {
	if len(m) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}

// Environment variables that give the repository password when the
// storage has no password_file.
const (
	EnvRepoPassword     = "BACKUPBOT_REPO_PASSWORD"
	EnvRepoPasswordFile = "BACKUPBOT_REPO_PASSWORD_FILE"
)

// RepoPassword finds a storage's repository password: the storage's
// password_file, else $BACKUPBOT_REPO_PASSWORD, else the file named by
// $BACKUPBOT_REPO_PASSWORD_FILE, else "" (an unencrypted repository). A
// file's trailing newline is dropped; an empty file is an error. Errors
// name the file, never the password.
func RepoPassword(spec storage.Spec) (string, error) {
	if spec.PasswordFile != "" {
		return readSecretFile(spec.PasswordFile, "the storage's password_file")
	}
	if pw := os.Getenv(EnvRepoPassword); pw != "" {
		return pw, nil
	}
	if f := os.Getenv(EnvRepoPasswordFile); f != "" {
		return readSecretFile(f, EnvRepoPasswordFile)
	}
	return "", nil
}

func readSecretFile(path, what string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the repository password from %s (%s): %w", path, what, err)
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if pw == "" {
		return "", fmt.Errorf("the repository password file %s (%s) is empty", path, what)
	}
	return pw, nil
}
