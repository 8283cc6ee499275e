package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/storage"
	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/engine"
)

// namedStorage is a storage resolved from a command: its configured name
// (or the kind, for a one-off location) and its spec.
type namedStorage struct {
	Name string
	Spec storage.Spec
}

// storageKinds are the words --storage accepts besides configured names.
var storageKinds = []string{storage.KindLocal, storage.KindNetwork, storage.KindS3, storage.KindAWS, storage.KindAzure}

// resolveStorage turns a command's StorageRef into one storage:
//   - no --storage: the storage named "local" if configured, else the only
//     configured storage;
//   - a configured name: that storage;
//   - a kind (local, network, s3, aws, azure): the one configured storage of
//     that kind, or, with --path/--bucket/--container, a one-off storage of
//     that kind at that location (inheriting endpoint and options from a
//     configured storage of the same kind, if any);
//
// and --path, --bucket, --container, --region override the location.
func resolveStorage(cfg *config.File, ref commands.StorageRef) (namedStorage, error) {
	name := strings.TrimSpace(ref.Name)
	var ns namedStorage
	switch {
	case name == "":
		if s, ok := cfg.Storages[storage.KindLocal]; ok {
			ns = namedStorage{storage.KindLocal, s}
		} else if len(cfg.Storages) == 1 {
			for n, s := range cfg.Storages {
				ns = namedStorage{n, s}
			}
		} else if oneOff(storage.KindLocal, ref) {
			ns = namedStorage{storage.KindLocal, storage.Spec{Type: storage.KindLocal}}
		} else {
			return ns, permanent(fmt.Errorf("several storages are configured (%s): say which with --storage", storageNames(cfg)))
		}
	case hasStorage(cfg, name):
		ns = namedStorage{name, cfg.Storages[name]}
	case slices.Contains(storageKinds, name):
		kind := name
		if kind == storage.KindAWS {
			kind = storage.KindS3
		}
		var same []string
		for n, s := range cfg.Storages {
			t := s.Type
			if t == storage.KindAWS {
				t = storage.KindS3
			}
			if t == kind || (t == "" && kind == storage.KindLocal) {
				same = append(same, n)
			}
		}
		sort.Strings(same)
		switch {
		case oneOff(name, ref):
			ns = namedStorage{name, storage.Spec{Type: name}}
			if len(same) > 0 {
				ns.Spec = cfg.Storages[same[0]]
			}
		case len(same) == 1:
			ns = namedStorage{same[0], cfg.Storages[same[0]]}
		case len(same) == 0:
			return ns, permanent(fmt.Errorf("no %s storage is configured (configured: %s); add one under storages: in the config", name, storageNames(cfg)))
		default:
			return ns, permanent(fmt.Errorf("several %s storages are configured (%s): name one with --storage", name, strings.Join(same, ", ")))
		}
	default:
		return ns, permanent(fmt.Errorf("unknown storage %q: configured are %s (or a kind: %s)",
			name, storageNames(cfg), strings.Join(storageKinds, ", ")))
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
	if (ns.Spec.Type == storage.KindLocal || ns.Spec.Type == storage.KindNetwork) && ns.Spec.Path == "" {
		return ns, permanent(fmt.Errorf("storage %s has no path: set path: in the config or pass --path", ns.Name))
	}
	return ns, nil
}

func hasStorage(cfg *config.File, name string) bool {
	_, ok := cfg.Storages[name]
	return ok
}

// oneOff reports whether the overrides locate a repository by themselves.
func oneOff(kind string, ref commands.StorageRef) bool {
	switch kind {
	case storage.KindLocal, storage.KindNetwork:
		return ref.Path != ""
	case storage.KindS3, storage.KindAWS:
		return ref.Bucket != ""
	case storage.KindAzure:
		return ref.Container != ""
	}
	return false
}

// resolveStorages is resolveStorage for list, which also takes all
// (every configured storage), remote (every off-machine one) and local
// (every local or network one).
func resolveStorages(cfg *config.File, ref commands.StorageRef) ([]namedStorage, error) {
	var pick func(storage.Spec) bool
	switch ref.Name {
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
		return nil, permanent(fmt.Errorf("no %s storage is configured (configured: %s)", ref.Name, storageNames(cfg)))
	}
	return out, nil
}

func storageNames(cfg *config.File) string {
	if len(cfg.Storages) == 0 {
		return "none"
	}
	return strings.Join(sortedKeys(cfg.Storages), ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// namedTarget is a configured target.
type namedTarget struct {
	Name   string
	Target config.Target
}

// resolveTargets turns --target into configured targets: "all" or ""
// means every one, in name order.
func resolveTargets(cfg *config.File, name string) ([]namedTarget, error) {
	if name == "" || name == "all" {
		if len(cfg.Targets) == 0 {
			return nil, permanent(fmt.Errorf("no targets are configured: add some under targets: in the config"))
		}
		var out []namedTarget
		for _, n := range sortedKeys(cfg.Targets) {
			out = append(out, namedTarget{n, cfg.Targets[n]})
		}
		return out, nil
	}
	t, ok := cfg.Targets[name]
	if !ok {
		return nil, permanent(fmt.Errorf("unknown target %q: configured targets are %s", name, strings.Join(sortedKeys(cfg.Targets), ", ")))
	}
	if len(t.Paths) == 0 {
		return nil, permanent(fmt.Errorf("target %q has no paths in the config", name))
	}
	return []namedTarget{{name, t}}, nil
}

// repo is an open repository and what closes it.
type repo struct {
	*engine.Engine
	storage namedStorage
	b       backend.Backend
}

func (r *repo) Close() error {
	return errors.Join(r.Engine.Close(), r.b.Close())
}

// openOptions says how openRepo treats a missing or plaintext repository.
type openOptions struct {
	Create  bool // initialise a repository when there is none
	Encrypt bool // require (or create) an encrypted repository
}

// openRepo opens the repository in a storage with its password.
func (w *Worker) openRepo(ctx context.Context, ns namedStorage, j *Job, o openOptions) (*repo, error) {
	pw, err := w.deps.Password(ns.Spec)
	if err != nil {
		return nil, permanent(fmt.Errorf("repository password for storage %s: %w", ns.Name, err))
	}
	b, err := w.deps.OpenBackend(ctx, ns.Spec)
	if err != nil {
		return nil, fmt.Errorf("open storage %s: %w", ns.Name, err)
	}
	e, err := engine.Open(ctx, b, engine.OpenOptions{Password: pw, Create: o.Create, Encrypt: o.Encrypt, Logger: j.Logger})
	if err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("storage %s: %w", ns.Name, classify(err))
	}
	return &repo{Engine: e, storage: ns, b: b}, nil
}

// classify marks engine and backend errors that a retry cannot fix (the
// engine's messages already say what to do about them).
func classify(err error) error {
	switch {
	case errors.Is(err, engine.ErrWrongPassword), errors.Is(err, engine.ErrNoRepository),
		errors.Is(err, engine.ErrNotEncrypted), errors.Is(err, engine.ErrSnapshotNotFound),
		errors.Is(err, backend.ErrPermanent):
		return permanent(err)
	}
	return err
}

// engineProgress adapts the job's progress reporting to the engine's.
func engineProgress(j *Job) engine.ProgressFunc {
	return func(p engine.Progress) {
		j.Progress(Progress{Phase: p.Phase, Files: p.Files, FilesTotal: p.FilesTotal, Bytes: p.Bytes, BytesTotal: p.BytesTotal, Path: p.Path})
	}
}
