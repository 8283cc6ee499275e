package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/storage"
)

// resolveFixture has a local storage named "local", a second local one, a
// network share, two S3 storages (one spelled aws) and one Azure storage.
func resolveFixture() *File {
	return &File{
		Storages: map[string]storage.Spec{
			"local":   {Type: storage.KindLocal, Path: "/var/repo"},
			"scratch": {Path: "/scratch/repo"},
			"nas":     {Type: storage.KindNetwork, Path: "/mnt/nas/repo"},
			"offsite": {Type: storage.KindS3, Bucket: "backups", Endpoint: "http://127.0.0.1:9000", Region: "us-east-1"},
			"archive": {Type: storage.KindAWS, Bucket: "archive"},
			"blob":    {Type: storage.KindAzure, Container: "backups"},
		},
		Targets: map[string]Target{
			"data":   {Paths: []string{"/srv/data"}},
			"config": {Paths: []string{"/etc/app"}, Exclude: []string{"*.tmp"}},
			"empty":  {},
		},
	}
}

func TestResolveStorage(t *testing.T) {
	only := &File{Storages: map[string]storage.Spec{"nas": {Type: storage.KindNetwork, Path: "/mnt/nas"}}}
	two := &File{Storages: map[string]storage.Spec{
		"a": {Type: storage.KindS3, Bucket: "a"}, "b": {Type: storage.KindS3, Bucket: "b"}}}
	none := &File{}
	tests := []struct {
		name    string
		cfg     *File
		ref     commands.StorageRef
		want    NamedStorage
		wantErr string // a part of the message; "" means no error
	}{
		{name: "default is the storage named local", cfg: resolveFixture(),
			want: NamedStorage{"local", storage.Spec{Type: storage.KindLocal, Path: "/var/repo"}}},
		{name: "default is the only storage", cfg: only,
			want: NamedStorage{"nas", storage.Spec{Type: storage.KindNetwork, Path: "/mnt/nas"}}},
		{name: "default with several and no local asks which", cfg: two,
			wantErr: "several storages are configured (a, b): say which with --storage"},
		{name: "no storage configured, --path makes a one-off local one", cfg: none, ref: commands.StorageRef{Path: "/tmp/r"},
			want: NamedStorage{"local", storage.Spec{Type: storage.KindLocal, Path: "/tmp/r"}}},
		{name: "configured name", cfg: resolveFixture(), ref: commands.StorageRef{Name: "offsite"},
			want: NamedStorage{"offsite", storage.Spec{Type: storage.KindS3, Bucket: "backups", Endpoint: "http://127.0.0.1:9000", Region: "us-east-1"}}},
		{name: "configured name with overrides", cfg: resolveFixture(), ref: commands.StorageRef{Name: "offsite", Bucket: "other", Region: "eu-west-1"},
			want: NamedStorage{"offsite", storage.Spec{Type: storage.KindS3, Bucket: "other", Endpoint: "http://127.0.0.1:9000", Region: "eu-west-1"}}},
		{name: "kind with one storage of it", cfg: resolveFixture(), ref: commands.StorageRef{Name: "azure"},
			want: NamedStorage{"blob", storage.Spec{Type: storage.KindAzure, Container: "backups"}}},
		{name: "kind with one storage of it, network", cfg: resolveFixture(), ref: commands.StorageRef{Name: "network"},
			want: NamedStorage{"nas", storage.Spec{Type: storage.KindNetwork, Path: "/mnt/nas/repo"}}},
		{name: "kind with several storages of it (aws counts as s3)", cfg: resolveFixture(), ref: commands.StorageRef{Name: "s3"},
			wantErr: "several s3 storages are configured (archive, offsite): name one with --storage"},
		{name: "one-off of a kind inherits the first configured one's settings", cfg: resolveFixture(), ref: commands.StorageRef{Name: "s3", Bucket: "elsewhere"},
			want: NamedStorage{"s3", storage.Spec{Type: storage.KindAWS, Bucket: "elsewhere"}}},
		{name: "one-off of a kind with none configured", cfg: only, ref: commands.StorageRef{Name: "azure", Container: "c1"},
			want: NamedStorage{"azure", storage.Spec{Type: storage.KindAzure, Container: "c1"}}},
		{name: "kind with none configured", cfg: only, ref: commands.StorageRef{Name: "s3"},
			wantErr: "no s3 storage is configured (configured: nas); add one under storages: in the config"},
		{name: "unknown name lists the configured ones", cfg: two, ref: commands.StorageRef{Name: "tape"},
			wantErr: `unknown storage "tape": configured are a, b (or a kind: local, network, s3, aws, azure)`},
		{name: "unknown name with nothing configured", cfg: none, ref: commands.StorageRef{Name: "tape"},
			wantErr: "configured are none"},
		{name: "a local storage needs a path", cfg: &File{Storages: map[string]storage.Spec{"local": {}}},
			wantErr: "storage local has no path: set path: in the config or pass --path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cfg.ResolveStorage(tt.ref)
			if wantsError(t, tt.wantErr, err, "ResolveStorage(%+v) = %+v, %v", tt.ref, got, err) {
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ResolveStorage(%+v) = %+v, %v; want %+v", tt.ref, got, err, tt.want)
			}
		})
	}
}

func TestResolveStoragesGroups(t *testing.T) {
	tests := []struct {
		name    string
		cfg     *File
		ref     commands.StorageRef
		want    []string
		wantErr string
	}{
		{name: "all", cfg: resolveFixture(), ref: commands.StorageRef{Name: "all"},
			want: []string{"archive", "blob", "local", "nas", "offsite", "scratch"}},
		{name: "remote", cfg: resolveFixture(), ref: commands.StorageRef{Name: "remote"},
			want: []string{"archive", "blob", "offsite"}},
		// local is the group of on-machine storages even when one is named local (the service's meaning).
		{name: "local is every on-machine storage", cfg: resolveFixture(), ref: commands.StorageRef{Name: "local"},
			want: []string{"local", "nas", "scratch"}},
		{name: "local with --path is that one location", cfg: resolveFixture(), ref: commands.StorageRef{Name: "local", Path: "/x"},
			want: []string{"local"}},
		{name: "a configured name is that one", cfg: resolveFixture(), ref: commands.StorageRef{Name: "blob"},
			want: []string{"blob"}},
		{name: "default", cfg: resolveFixture(), want: []string{"local"}},
		{name: "remote with none configured", cfg: &File{Storages: map[string]storage.Spec{"l": {Path: "/r"}}}, ref: commands.StorageRef{Name: "remote"},
			wantErr: "no remote storage is configured (configured: l)"},
		{name: "unknown name", cfg: resolveFixture(), ref: commands.StorageRef{Name: "tape"},
			wantErr: `unknown storage "tape"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cfg.ResolveStorages(tt.ref)
			if wantsError(t, tt.wantErr, err, "ResolveStorages(%+v) = %+v, %v", tt.ref, got, err) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, ns := range got {
				names = append(names, ns.Name)
			}
			if strings.Join(names, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("ResolveStorages(%+v) = %v; want %v", tt.ref, names, tt.want)
			}
		})
	}
}

func TestResolveTargets(t *testing.T) {
	cfg := resolveFixture()
	for _, name := range []string{"", "all"} {
		got, err := cfg.ResolveTargets(name)
		if err != nil || len(got) != 3 || got[0].Name != "config" || got[1].Name != "data" || got[2].Name != "empty" {
			t.Fatalf("ResolveTargets(%q) = %+v, %v; want every target in name order", name, got, err)
		}
	}
	got, err := cfg.ResolveTargets("config")
	if err != nil || len(got) != 1 || got[0].Name != "config" || got[0].Target.Exclude[0] != "*.tmp" {
		t.Fatalf("ResolveTargets(config) = %+v, %v", got, err)
	}
	for name, want := range map[string]string{
		"nope":  `unknown target "nope": configured targets are config, data, empty`,
		"empty": `target "empty" has no paths in the config`,
	} {
		if _, err := cfg.ResolveTargets(name); err == nil || err.Error() != want {
			t.Errorf("ResolveTargets(%q) error = %v; want %q", name, err, want)
		}
	}
	if _, err := (&File{}).ResolveTargets("all"); err == nil || !strings.Contains(err.Error(), "no targets are configured") {
		t.Errorf("ResolveTargets(all) with no targets: %v", err)
	}
}

func TestRepoPassword(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	storageFile := write("storage.pw", "from the storage\n")
	envFile := write("env.pw", "from the env file\r\n")
	emptyFile := write("empty.pw", "\n")
	tests := []struct {
		name            string
		spec            storage.Spec
		env, envFile    string
		want, wantError string
	}{
		{name: "none: an unencrypted repository", want: ""},
		{name: "the storage's password_file comes first", spec: storage.Spec{PasswordFile: storageFile}, env: "env", envFile: envFile, want: "from the storage"},
		{name: "then the variable", env: "from the env", envFile: envFile, want: "from the env"},
		{name: "then the variable's file", envFile: envFile, want: "from the env file"},
		{name: "an empty file is an error", spec: storage.Spec{PasswordFile: emptyFile}, wantError: "is empty"},
		{name: "a missing file is an error naming it", envFile: filepath.Join(dir, "missing"), wantError: "BACKUPBOT_REPO_PASSWORD_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvRepoPassword, tt.env)
			t.Setenv(EnvRepoPasswordFile, tt.envFile)
			got, err := RepoPassword(tt.spec)
			if wantsError(t, tt.wantError, err, "RepoPassword = %q, %v", got, err) {
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("RepoPassword = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// wantsError is for a table case that may want an error: with want "" it
// returns false; else it checks that err contains want (the failure shows
// the call's result, format and args) and returns true.
func wantsError(t *testing.T, want string, err error, format string, args ...any) bool {
	t.Helper()
	if want == "" {
		return false
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf(format+"; want an error containing %q", append(args, want)...)
	}
	return true
}
