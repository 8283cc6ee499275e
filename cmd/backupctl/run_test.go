package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
)

// runCtl runs backupctl in a directory with no configuration file, so the
// embedded defaults apply unless args say otherwise.
func runCtl(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Chdir(t.TempDir())
	t.Setenv(config.EnvConfig, "")
	var out, errOut bytes.Buffer
	code = runContext(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

const issueExampleJSON = `{
  "action": "restore",
  "name": "pre deployment",
  "target": "config",
  "preview": true,
  "storage": {}
}
`

func TestParsePrintsTypedJSON(t *testing.T) {
	cases := map[string][]string{
		"one chat-style argument":  {"parse", `/backup restore --name "pre deployment" --target config --preview`},
		"shell words":              {"parse", "restore", "--name", "pre deployment", "--target", "config", "--preview"},
		"shell words with /backup": {"parse", "/backup", "restore", "--name", "pre deployment", "--target", "config", "--preview"},
		"--json is accepted too":   {"--json", "parse", "restore", "--name", "pre deployment", "--target", "config", "--preview"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runCtl(t, args...)
			if code != exitOK || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			if out != issueExampleJSON {
				t.Fatalf("stdout:\n%s\nwant:\n%s", out, issueExampleJSON)
			}
			c, err := commands.UnmarshalCommand([]byte(out))
			if err != nil {
				t.Fatalf("the printed JSON does not decode: %v", err)
			}
			if c.(*commands.Restore).Name != "pre deployment" {
				t.Fatalf("decoded %#v", c)
			}
		})
	}
}

func TestParseBadInputExitsTwo(t *testing.T) {
	code, out, errOut := runCtl(t, "parse", "crate", "--type", "full")
	if code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
	if out != "" {
		t.Errorf("stdout %q, want nothing", out)
	}
	if !strings.Contains(errOut, `unknown action "crate"; did you mean `+"`create`?") {
		t.Errorf("stderr %q does not explain the typo", errOut)
	}
}

func TestJSONErrors(t *testing.T) {
	code, _, errOut := runCtl(t, "--json", "parse", "create --typ full")
	if code != exitUsage {
		t.Fatalf("exit %d", code)
	}
	var got struct {
		Error  string         `json:"error"`
		Detail commands.Error `json:"detail"`
		Exit   int            `json:"exit_code"`
	}
	if err := json.Unmarshal([]byte(errOut), &got); err != nil {
		t.Fatalf("stderr is not JSON: %v\n%s", err, errOut)
	}
	if got.Detail.Suggestion != "--type" || got.Detail.Flag != "typ" || got.Exit != exitUsage {
		t.Fatalf("error JSON = %+v", got)
	}
}

func TestHelp(t *testing.T) {
	code, out, _ := runCtl(t, "help", "restore")
	if code != exitOK || !strings.Contains(out, "--date YYYY-MM-DD") || strings.Contains(out, "```") {
		t.Fatalf("help restore: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{}, {"help"}, {"--help"}} {
		code, out, _ := runCtl(t, args...)
		if code != exitOK || !strings.Contains(out, "usage: backupctl") || !strings.Contains(out, "restore") {
			t.Fatalf("backupctl %v: exit %d\n%s", args, code, out)
		}
	}
	code, out, _ = runCtl(t, "restore", "--help")
	if code != exitOK || !strings.Contains(out, "/backup restore") {
		t.Fatalf("restore --help: exit %d\n%s", code, out)
	}
	code, _, errOut := runCtl(t, "help", "restroe")
	if code != exitUsage || !strings.Contains(errOut, "`restore`") {
		t.Fatalf("help restroe: exit %d, stderr %q", code, errOut)
	}
}

func TestConfigNamesReachTheParser(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	body := "storages:\n  offsite: {type: s3, bucket: backups}\ntargets:\n  web: {paths: [/srv/www]}\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCtl(t, "--config", path, "parse", "create --storage offsite --target web")
	if code != exitOK || !strings.Contains(out, `"name": "offsite"`) {
		t.Fatalf("exit %d, stdout %s, stderr %s", code, out, errOut)
	}
	// Without that config the names are unknown: bad input.
	code, _, errOut = runCtl(t, "parse", "create --storage offsite")
	if code != exitUsage || !strings.Contains(errOut, `not "offsite"`) {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	// $BACKUPBOT_CONFIG is read when --config is absent.
	t.Chdir(t.TempDir())
	t.Setenv(config.EnvConfig, path)
	var stdout, stderr bytes.Buffer
	if code := runContext(context.Background(), []string{"parse", "create --target web"}, nil, &stdout, &stderr); code != exitOK {
		t.Fatalf("with $%s: exit %d, %s", config.EnvConfig, code, stderr.String())
	}
}

func TestBadConfigExitsTwo(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte("storages:\n  local: {type: local, pth: /x}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCtl(t, "--config="+path, "parse", "list")
	if code != exitUsage || !strings.Contains(errOut, `unknown key "storages.local.pth"`) {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runCtl(t, "--config", filepath.Join(dir, "missing.yaml"), "list")
	if code != exitUsage || !strings.Contains(errOut, "cannot read") {
		t.Fatalf("missing config: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runCtl(t, "list", "--config")
	if code != exitUsage || !strings.Contains(errOut, "--config needs a file name") {
		t.Fatalf("--config without a file: exit %d, stderr %q", code, errOut)
	}
}

func TestExitCodes(t *testing.T) {
	var stderr bytes.Buffer
	a := &app{stderr: &stderr}
	cases := []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{errors.New("disk full"), exitFailed},
		{&commands.Error{Message: "bad"}, exitUsage},
		{badInput(errors.New(`no storage called "x"`)), exitUsage},
		{errors.Join(errors.New("wrapped"), badInput(errors.New("inner"))), exitUsage},
	}
	for _, tc := range cases {
		if got := a.exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
	if !strings.Contains(stderr.String(), "backupctl: disk full") {
		t.Errorf("stderr %q does not report the failure", stderr.String())
	}
}
