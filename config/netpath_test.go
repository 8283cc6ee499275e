package config

import (
	"strings"
	"testing"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/storage"
)

func TestLoadSMBLocations(t *testing.T) {
	f, err := Load(writeConfig(t, `
storages:
  nas: {type: network, path: '\\127.0.0.1\share\repo', port: 14445, user: backupbot, smb_password_file: /run/secrets/smb}
  nas2: {type: network, path: "smb://nas.example:1445/backups/team-a", user: svc, domain: CORP}
  mounted: {type: network, path: /mnt/nas/backups}
targets:
  data: {paths: [/srv/data]}
`))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := storage.Spec{Type: storage.KindNetwork, Path: `\\127.0.0.1\share\repo`, Port: 14445, User: "backupbot", SMBPasswordFile: "/run/secrets/smb"}
	if got := f.Storages["nas"]; got != want {
		t.Errorf("nas = %+v; want %+v", got, want)
	}
	if !f.Storages["nas"].IsSMB() || !f.Storages["nas2"].IsSMB() || f.Storages["mounted"].IsSMB() {
		t.Errorf("IsSMB: nas %v nas2 %v mounted %v; want true true false",
			f.Storages["nas"].IsSMB(), f.Storages["nas2"].IsSMB(), f.Storages["mounted"].IsSMB())
	}
}

func TestLoadRefusesSharesAndDrivesWhereTheyCannotWork(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"share as a local storage", "storages:\n  l: {type: local, path: '\\\\nas\\backups\\x'}\n", "use type: network"},
		{"drive letter", "storages:\n  l: {type: local, path: 'D:/Backups'}\n", "Windows drive path"},
		{"drive letter on network", "storages:\n  n: {type: network, path: 'D:\\Backups'}\n", "Windows drive path"},
		{"share without a share name", "storages:\n  n: {type: network, path: 'smb://nas/'}\n", "names no share"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, tc.body+"targets:\n  data: {paths: [/d]}\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %v; want an error saying %q", err, tc.want)
			}
		})
	}
}

// TestResolveRefusesUnconfiguredShares: the reference's
// `--storage network --path "\\nas\backups\aitherzero"` is refused unless
// the storage it overrides is a configured SMB location; a drive letter is
// always refused. Neither becomes a local directory.
func TestResolveRefusesUnconfiguredShares(t *testing.T) {
	f := resolveFixture()
	for _, ref := range []commands.StorageRef{
		{Name: "network", Path: `\\nas\backups\aitherzero`},
		{Name: "nas", Path: `\\nas\backups\aitherzero`},
		{Name: "local", Path: `smb://nas/backups/x`},
		{Path: `\\nas\backups\aitherzero`},
		{Name: "local", Path: `D:/Backups/x`},
		{Name: "network", Path: `D:\Backups`},
	} {
		ns, err := f.ResolveStorage(ref)
		if err == nil {
			t.Errorf("ResolveStorage(%+v) = %+v; want it refused", ref, ns)
			continue
		}
		if !strings.Contains(err.Error(), ref.Path) {
			t.Errorf("ResolveStorage(%+v): %v; want the message to name the path", ref, err)
		}
	}
	f.Storages["share"] = storage.Spec{Type: storage.KindNetwork, Path: `\\127.0.0.1\backups\repo`, Port: 14445, User: "backupbot"}
	ns, err := f.ResolveStorage(commands.StorageRef{Name: "share", Path: `\\127.0.0.1\backups\other`})
	if err != nil {
		t.Fatalf("a --path on a configured SMB location: %v", err)
	}
	if ns.Spec.Path != `\\127.0.0.1\backups\other` || ns.Spec.Port != 14445 || ns.Spec.User != "backupbot" {
		t.Errorf("resolved %+v; want the new path with the configured port and user", ns.Spec)
	}
}
