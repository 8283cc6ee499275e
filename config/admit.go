package config

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/backupbot/backupbot/commands"
)

// Admit checks a parsed command against this configuration before
// anything is queued, with the same resolution the worker does: the
// storage it names (a configured name, or a kind some storage has, or a
// one-off location), the target a backup reads, the databases a database
// snapshot dumps, and resources backupbot cannot snapshot at all. A
// command that would fail in the worker for one of these reasons is
// refused here with a *commands.Error saying which name is wrong and,
// when one is close, which was probably meant; nil means it may be queued.
func (s *Snapshot) Admit(cmd commands.Command) error {
	return s.File.Admit(cmd)
}

// Admit is Snapshot.Admit on the file itself.
func (f *File) Admit(cmd commands.Command) error {
	if cmd == nil {
		return nil
	}
	if ref, ok := storageRefOf(cmd); ok && needsStorage(cmd) {
		if err := f.admitStorage(cmd, ref); err != nil {
			return err
		}
	}
	switch c := cmd.(type) {
	case *commands.Create:
		return f.admitTarget(cmd, c.Target)
	case *commands.Schedule:
		if (c.Op == commands.ScheduleCreate || c.Op == commands.ScheduleUpdate) && (c.Kind == "" || c.Kind == commands.ScheduleBackup) && c.Target != "" {
			return f.admitTarget(cmd, c.Target)
		}
	case *commands.Snapshot:
		switch {
		case c.Resource == commands.ResourceVM:
			return &commands.Error{Action: cmd.Action(), Flag: "resource",
				Message: "vm snapshots are not supported: backupbot has no hypervisor integration",
				Hint:    "Take them with your hypervisor's tooling, or use `--resource storage` or `--resource database`."}
		case c.Resource == commands.ResourceDatabase && len(f.Databases) == 0:
			return &commands.Error{Action: cmd.Action(), Flag: "resource",
				Message: "no databases are configured here",
				Hint:    "Add them under `databases:` in the config (type, name, host, user, password_env), or use `--resource storage`."}
		}
	}
	return nil
}

// needsStorage reports whether the command's worker opens the storage it
// names (a schedule's storage matters only when it is created or changed).
func needsStorage(cmd commands.Command) bool {
	if c, ok := cmd.(*commands.Schedule); ok {
		return c.Op == commands.ScheduleCreate || c.Op == commands.ScheduleUpdate
	}
	return true
}

// storageRefOf finds the command's StorageRef, whatever the action: every
// action that touches a storage has one.
func storageRefOf(cmd commands.Command) (commands.StorageRef, bool) {
	v := reflect.ValueOf(cmd)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return commands.StorageRef{}, false
	}
	for i := range v.NumField() {
		if ref, ok := v.Field(i).Interface().(commands.StorageRef); ok {
			return ref, true
		}
	}
	return commands.StorageRef{}, false
}

func (f *File) admitStorage(cmd commands.Command, ref commands.StorageRef) error {
	var err error
	if cmd.Action() == commands.ActionList {
		_, err = f.ResolveStorages(ref)
	} else {
		_, err = f.ResolveStorage(ref)
	}
	if err == nil {
		return nil
	}
	name := strings.TrimSpace(ref.Name)
	e := &commands.Error{Action: cmd.Action(), Flag: "storage", Message: err.Error()}
	if _, ok := f.Storages[name]; !ok && name != "" && !slices.Contains(storageKinds, name) {
		e.Message = fmt.Sprintf("unknown storage %s: the storages configured here are %s", quoteName(name), names(f.Storages))
		e.Suggestion = commands.Suggest(name, slices.Sorted(maps.Keys(f.Storages)))
	}
	if strings.HasPrefix(err.Error(), "--path") {
		e.Flag = "path"
	}
	return e
}

func (f *File) admitTarget(cmd commands.Command, target string) error {
	if _, err := f.ResolveTargets(target); err == nil {
		return nil
	}
	e := &commands.Error{Action: cmd.Action(), Flag: "target",
		Message: fmt.Sprintf("unknown target %s: the targets configured here are %s (or all)", quoteName(target), names(f.Targets)),
		Hint:    "Add it under `targets:` in the config and reload (SIGHUP) to back it up."}
	e.Suggestion = commands.Suggest(target, slices.Sorted(maps.Keys(f.Targets)))
	return e
}

func quoteName(s string) string { return "`" + s + "`" }
