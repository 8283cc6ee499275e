package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/storage"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "backupbot.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadRefuses checks that Load refuses body with an error that says each
// of want.
func loadRefuses(t *testing.T, body string, want ...string) {
	t.Helper()
	_, err := Load(writeConfig(t, body))
	if err == nil {
		t.Fatal("Load accepted it")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

const goodConfig = `
storages:
  local: {type: local, path: ./var/repo}
  offsite: {type: s3, bucket: backups, region: us-east-1, prefix: team-a, endpoint: "http://127.0.0.1:9000"}
  azure: {type: azure, container: backups, prefix: team-a}
targets:
  config: {paths: [/etc/myapp], exclude: ["*.tmp"]}
  data: {paths: [/srv/data]}
`

func TestLoadTheInterfacesExample(t *testing.T) {
	f, err := Load(writeConfig(t, goodConfig))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := storage.Spec{Type: "s3", Bucket: "backups", Region: "us-east-1", Prefix: "team-a", Endpoint: "http://127.0.0.1:9000"}
	if got := f.Storages["offsite"]; got != want {
		t.Errorf("offsite = %+v, want %+v", got, want)
	}
	if got := f.Targets["config"]; !reflect.DeepEqual(got, Target{Paths: []string{"/etc/myapp"}, Exclude: []string{"*.tmp"}}) {
		t.Errorf("target config = %+v", got)
	}
	p := f.Parser()
	if !reflect.DeepEqual(p.Storages, []string{"azure", "local", "offsite"}) || !reflect.DeepEqual(p.Targets, []string{"config", "data"}) {
		t.Errorf("Parser() = %+v", p)
	}
	c, err := p.Parse("create --storage offsite --target config")
	if err != nil {
		t.Fatalf("the parser from the config rejects its names: %v", err)
	}
	if got := c.(*commands.Create).Storage.Name; got != "offsite" {
		t.Errorf("storage = %q", got)
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name, body string
		want       []string
	}{
		{"unknown top-level key", "storages:\n  local: {type: local, path: /r}\ntargets:\n  data: {paths: [/d]}\nstorgaes: {}\n", []string{"line 5", `unknown key "storgaes"`}},
		{"unknown nested key", "storages:\n  local:\n    type: s3\n    bukcet: x\n", []string{"line 4", `unknown key "storages.local.bukcet"`}},
		{"unknown storage type", "storages:\n  nas:\n    type: smb\n    path: /x\n", []string{"line 3", "storages.nas.type", `type "smb" is not a storage kind`, "local, network, s3, aws, azure"}},
		{"s3 without bucket", "storages:\n  off: {type: s3, region: us-east-1}\n", []string{"line 2", "storages.off", "needs a bucket"}},
		{"azure without container", "storages:\n  az: {type: azure}\n", []string{"needs a container"}},
		{"local without path", "storages:\n  l: {type: local}\n", []string{"needs a path"}},
		{"unknown encryption", "storages:\n  l:\n    type: local\n    path: /r\n    encryption: aes128\n", []string{"line 5", "storages.l.encryption", `encryption "aes128" is not known`, "none"}},
		{"size_limit that is no size", "storages:\n  l:\n    type: local\n    path: /r\n    size_limit: half\n", []string{"line 5", "storages.l.size_limit", `size_limit "half" is not a size`, "500GiB"}},
		{"target without paths", "targets:\n  web: {exclude: [x]}\n", []string{"line 2", "targets.web", "at least one path"}},
		{"target with an empty path", "targets:\n  web: {paths: [\"\"]}\n", []string{"path 1 is empty"}},
		{"reserved target name", "targets:\n  all: {paths: [/x]}\n", []string{`"all" is a reserved word`}},
		{"reserved storage name", "storages:\n  remote: {type: local, path: /x}\n", []string{`"remote" is a reserved word`}},
		{"name with a space", "targets:\n  \"my data\": {paths: [/x]}\n", []string{"names are 1-63 letters"}},
		{"no storages at all", "storages: {}\n", []string{"at least one storage"}},
		{"wrong value type", "targets:\n  data: {paths: 5}\n", []string{"line 2", "cannot unmarshal"}},
		{"broken YAML", "storages: [\n", []string{"not valid YAML"}},
		{"a section's own check (policy)", "policy:\n  roles:\n    x:\n      - actions: [explode]\n", []string{":4 ", "policy.roles.x[0].actions", `"explode"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.body)
			_, err := Load(path)
			if err == nil {
				t.Fatal("Load accepted it")
			}
			msg := err.Error()
			if !strings.Contains(msg, path) {
				t.Errorf("error %q does not name the file", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.Contains(err.Error(), "cannot read") {
		t.Fatalf("Load(missing) = %v", err)
	}
}

func TestSectionsLeftOutTakeDefaults(t *testing.T) {
	f, err := Load(writeConfig(t, "targets:\n  web: {paths: [/srv/www]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Storages["local"].Path != "./var/repo" {
		t.Errorf("storages = %+v, want the default local storage", f.Storages)
	}
	if _, ok := f.Targets["data"]; ok {
		t.Errorf("targets = %+v: a file's own targets replace the defaults", f.Targets)
	}
	empty, err := Load(writeConfig(t, ""))
	if err != nil {
		t.Fatalf("empty file: %v", err)
	}
	if !reflect.DeepEqual(empty.Storages, Defaults().Storages) || !reflect.DeepEqual(empty.Targets, Defaults().Targets) {
		t.Errorf("an empty file = %+v, want the defaults", empty)
	}
}

func TestDefaults(t *testing.T) {
	d := Defaults()
	if got := d.Storages["local"]; got != (storage.Spec{Type: "local", Path: "./var/repo"}) {
		t.Errorf("default storage = %+v", got)
	}
	if got := d.Targets["data"].Paths; !reflect.DeepEqual(got, []string{"./var/data"}) {
		t.Errorf("default target data = %v", got)
	}
}

func TestResolveOrder(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	flagFile := writeConfig(t, "storages:\n  fromflag: {type: local, path: /a}\n")
	envFile := writeConfig(t, "storages:\n  fromenv: {type: local, path: /b}\n")

	t.Setenv(EnvConfig, "")
	f, path, err := Resolve("")
	if err != nil || path != "" || f.Storages["local"].Path != "./var/repo" {
		t.Fatalf("no file anywhere: %v %q %+v, want the embedded defaults", err, path, f)
	}

	if err := os.WriteFile(filepath.Join(dir, DefaultPath), []byte("storages:\n  fromcwd: {type: local, path: /c}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if f, path, err = Resolve(""); err != nil || path != DefaultPath || f.Storages["fromcwd"].Path != "/c" {
		t.Fatalf("./backupbot.yaml: %v %q %+v", err, path, f)
	}

	t.Setenv(EnvConfig, envFile)
	if f, path, err = Resolve(""); err != nil || path != envFile || f.Storages["fromenv"].Path != "/b" {
		t.Fatalf("$%s: %v %q %+v", EnvConfig, err, path, f)
	}

	if f, path, err = Resolve(flagFile); err != nil || path != flagFile || f.Storages["fromflag"].Path != "/a" {
		t.Fatalf("--config: %v %q %+v", err, path, f)
	}

	if _, _, err = Resolve(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Fatal("--config naming a missing file did not fail")
	}
}
