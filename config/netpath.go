package config

import (
	"fmt"

	"github.com/backupbot/backupbot/storage"
	"github.com/backupbot/backupbot/storage/smb"
)

// checkStoragePath validates a configured storage's path where it names a
// network share or a Windows drive: a share must be a network storage's
// well-formed SMB location, a drive letter is never a path on this machine.
func checkStoragePath(name string, s storage.Spec) error {
	switch {
	case s.Type != storage.KindLocal && s.Type != storage.KindNetwork:
		return nil
	case smb.IsDriveLetterPath(s.Path):
		return at(fmt.Sprintf("'%s' is a Windows drive path, which names nothing on this machine; give a directory here or an SMB location (type: network, path: smb://host/share/dir)", s.Path), "storages", name, "path")
	case smb.IsSMBPath(s.Path) && s.Type == storage.KindLocal:
		return at(fmt.Sprintf("'%s' is a network share; use type: network for an SMB location (smb://host/share/dir or \\\\host\\share\\dir)", s.Path), "storages", name, "type")
	case smb.IsSMBPath(s.Path):
		if _, err := smb.ParseLocation(s.Path, s.Port); err != nil {
			return at(err.Error(), "storages", name, "path")
		}
	}
	return nil
}

// checkPathOverride refuses a --path that names a share or a drive unless
// the storage it overrides is a configured SMB location: backupbot reaches
// a share only with the server, port and user the configuration gives it,
// and never turns such a path into a local directory.
func checkPathOverride(ns NamedStorage, base storage.Spec, p string) error {
	switch {
	case smb.IsDriveLetterPath(p):
		return fmt.Errorf("--path '%s' is a Windows drive path, which names nothing on this machine: give a directory here (such as /mnt/backups) or a configured network storage", p)
	case smb.IsSMBPath(p) && !base.IsSMB():
		return fmt.Errorf("--path '%s' is a network share, and storage %s is not a configured SMB location: add one under storages: (type: network, path: smb://host/share/dir, user: NAME, password in $%s) and use --storage NAME, or mount the share and pass the mount point", p, ns.Name, smb.EnvPassword)
	case smb.IsSMBPath(p):
		if _, err := smb.ParseLocation(p, base.Port); err != nil {
			return err
		}
	}
	return nil
}
