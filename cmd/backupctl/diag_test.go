package main

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/commands"
)

// Secrets the diagnostics tests set, to look for in what they print.
const (
	diagPassword   = "ctl-diag-pw-Quokka-7781"
	diagSlackToken = "xoxb-1111-2222-QuokkaSlackToken"
)

func assertNoSecrets(t *testing.T, what, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("%s shows the secret %q:\n%s", what, s, text)
		}
	}
}

// TestVerboseCreateShowsEveryPhase: create --verbose adds each phase of
// the backup (scan, read, chunk, compress, encrypt, upload, commit) with
// its time and counts; no secret shows, even one typed into the command.
func TestVerboseCreateShowsEveryPhase(t *testing.T) {
	w := newCtlWorld(t)
	t.Setenv("BACKUPBOT_REPO_PASSWORD", diagPassword)
	t.Setenv("SLACK_BOT_TOKEN", diagSlackToken)
	code, out, errOut := w.run(t, "create", "--type", "full", "--target", "data", "--verbose", "--compress", "--tags", "note="+diagSlackToken)
	if code != exitOK {
		t.Fatalf("create --verbose: exit %d\n%s%s", code, out, errOut)
	}
	for _, phase := range []string{"scan", "read", "chunk", "compress", "encrypt", "upload", "commit"} {
		// "read      1.2ms  2 files  80.0 kB"
		if !regexp.MustCompile(`(?m)^\s+` + phase + `\s+(<1ms|[0-9.]+(µs|ms|s)|[0-9]+m[0-9]+s)\s+[0-9,]+ \w+`).MatchString(out) {
			t.Errorf("create --verbose shows no time and count for the %s phase:\n%s", phase, out)
		}
	}
	code, quiet, _ := w.run(t, "create", "--target", "data")
	if code != exitOK || strings.Contains(quiet, "PHASE") {
		t.Errorf("create without --verbose: exit %d, shows the phases:\n%s", code, quiet)
	}
	assertNoSecrets(t, "create --verbose", out+errOut, diagPassword, diagSlackToken)
}

// TestDebugStorageTestShowsTheStorageCalls: test --storage s3 --debug
// adds the storage calls by kind (count, bytes, time, retries) and the
// job's log lines, with no secret in them.
func TestDebugStorageTestShowsTheStorageCalls(t *testing.T) {
	a, out := testApp(t, false)
	t.Setenv("BACKUPBOT_REPO_PASSWORD", diagPassword)
	t.Setenv("SLACK_BOT_TOKEN", diagSlackToken)
	err := execute(context.Background(), a, &commands.Test{Storage: commands.StorageRef{Name: "offsite"}, Diagnostics: commands.Diagnostics{Debug: true}})
	if err != nil {
		t.Fatalf("test --storage offsite --debug: %v\n%s", err, out)
	}
	text := out.String()
	if !strings.Contains(text, "Storage calls:") {
		t.Fatalf("no storage calls in the --debug output:\n%s", text)
	}
	for _, call := range []string{"put", "get", "stat", "list", "delete"} {
		if !regexp.MustCompile(`(?m)^\s+` + call + `\s+[1-9][0-9]*\s+\S+ \S*B\s+\S+\s+[0-9]+\s+[0-9]+`).MatchString(text) {
			t.Errorf("the storage calls lack a %s row:\n%s", call, text)
		}
	}
	assertNoSecrets(t, "test --debug", text+a.stderr.(interface{ String() string }).String(),
		diagPassword, diagSlackToken, strings.TrimSpace(envOr(t, "AWS_SECRET_ACCESS_KEY")))
}

func envOr(t *testing.T, name string) string {
	t.Helper()
	v, ok := lookupEnv(name)
	if !ok || v == "" {
		t.Fatalf("%s is not set", name)
	}
	return v
}

var lookupEnv = os.LookupEnv
