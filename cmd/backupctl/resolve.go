package main

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/storage"
)

// namedStorage is a storage resolved from a command: its configured name
// (or the kind, for a one-off location) and its spec.
type namedStorage struct {
	Name string
	Spec storage.Spec
}

var storageKinds = []string{storage.KindLocal, storage.KindNetwork, storage.KindS3, storage.KindAWS, storage.KindAzure}

// resolveStorage turns --storage and its overrides into one storage, the
// same way the service's workers do: no --storage means the storage named
// "local" (or the only one); a configured name is that storage; a kind is
// the one configured storage of that kind, or a one-off location given by
// --path/--bucket/--container. --path, --bucket, --container and --region
// override the location.
func resolveStorage(cfg *config.File, ref commands.StorageRef) (namedStorage, error) {
	name := strings.TrimSpace(ref.Name)
	var ns namedStorage
	_, configured := cfg.Storages[name]
	switch {
	case name == "":
		if s, ok := cfg.Storages[storage.KindLocal]; ok {
			ns = namedStorage{storage.KindLocal, s}
		} else if len(cfg.Storages) == 1 {
			for n, s := range cfg.Storages {
				ns = namedStorage{n, s}
			}
		} else if ref.Path != "" {
			ns = namedStorage{storage.KindLocal, storage.Spec{Type: storage.KindLocal}}
		} else {
			return ns, fmt.Errorf("several storages are configured (%s): say which with --storage", names(cfg.Storages))
		}
	case configured:
		ns = namedStorage{name, cfg.Storages[name]}
	case slices.Contains(storageKinds, name):
		kind := normalKind(name)
		var same []string
		for n, s := range cfg.Storages {
			if normalKind(s.Type) == kind {
				same = append(same, n)
			}
		}
		sort.Strings(same)
		switch {
		case oneOff(kind, ref):
			ns = namedStorage{name, storage.Spec{Type: name}}
			if len(same) > 0 {
				ns.Spec = cfg.Storages[same[0]]
			}
		case len(same) == 1:
			ns = namedStorage{same[0], cfg.Storages[same[0]]}
		case len(same) == 0:
			return ns, fmt.Errorf("no %s storage is configured (configured: %s); add one under storages: in the config", name, names(cfg.Storages))
		default:
			return ns, fmt.Errorf("several %s storages are configured (%s): name one with --storage", name, strings.Join(same, ", "))
		}
	default:
		return ns, fmt.Errorf("unknown storage %q: configured are %s (or a kind: %s)", name, names(cfg.Storages), strings.Join(storageKinds, ", "))
	}
	if ref.Path != "" {
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

func normalKind(k string) string {
	switch k {
	case storage.KindAWS:
		return storage.KindS3
	case "":
		return storage.KindLocal
	}
	return k
}

func oneOff(kind string, ref commands.StorageRef) bool {
	switch kind {
	case storage.KindLocal, storage.KindNetwork:
		return ref.Path != ""
	case storage.KindS3:
		return ref.Bucket != ""
	case storage.KindAzure:
		return ref.Container != ""
	}
	return false
}

// resolveStorages is resolveStorage for list, which also takes all, remote
// and (without --path) local as groups of configured storages.
func resolveStorages(cfg *config.File, ref commands.StorageRef) ([]namedStorage, error) {
	var pick func(storage.Spec) bool
	switch ref.Name {
	case "all":
		pick = func(storage.Spec) bool { return true }
	case "remote":
		pick = storage.Spec.IsRemote
	case storage.KindLocal:
		if ref.Path == "" {
			if _, ok := cfg.Storages[storage.KindLocal]; !ok {
				pick = func(s storage.Spec) bool { return !s.IsRemote() }
			}
		}
	}
	if pick == nil {
		ns, err := resolveStorage(cfg, ref)
		if err != nil {
			return nil, err
		}
		return []namedStorage{ns}, nil
	}
	var out []namedStorage
	for _, n := range sortedKeys(cfg.Storages) {
		if s := cfg.Storages[n]; pick(s) {
			out = append(out, namedStorage{n, s})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s storage is configured (configured: %s)", ref.Name, names(cfg.Storages))
	}
	return out, nil
}

// namedTarget is a configured target.
type namedTarget struct {
	Name   string
	Target config.Target
}

// resolveTargets turns --target into configured targets; "all" or ""
// means every one, in name order.
func resolveTargets(cfg *config.File, name string) ([]namedTarget, error) {
	if name == "" || name == "all" {
		if len(cfg.Targets) == 0 {
			return nil, fmt.Errorf("no targets are configured: add some under targets: in the config")
		}
		var out []namedTarget
		for _, n := range sortedKeys(cfg.Targets) {
			out = append(out, namedTarget{n, cfg.Targets[n]})
		}
		return out, nil
	}
	t, ok := cfg.Targets[name]
	if !ok {
		return nil, fmt.Errorf("unknown target %q: configured targets are %s", name, names(cfg.Targets))
	}
	if len(t.Paths) == 0 {
		return nil, fmt.Errorf("target %q has no paths in the config", name)
	}
	return []namedTarget{{name, t}}, nil
}

func names[V any](m map[string]V) string {
	if len(m) == 0 {
		return "none"
	}
	return strings.Join(sortedKeys(m), ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// repoPassword finds a storage's repository password: the storage's
// password_file, else BACKUPBOT_REPO_PASSWORD, else the file named by
// BACKUPBOT_REPO_PASSWORD_FILE, else none (an unencrypted repository).
func repoPassword(spec storage.Spec) (string, error) {
	if spec.PasswordFile != "" {
		return readSecretFile(spec.PasswordFile, "the storage's password_file")
	}
	if pw := os.Getenv("BACKUPBOT_REPO_PASSWORD"); pw != "" {
		return pw, nil
	}
	if f := os.Getenv("BACKUPBOT_REPO_PASSWORD_FILE"); f != "" {
		return readSecretFile(f, "BACKUPBOT_REPO_PASSWORD_FILE")
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
