package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// A cluster URL is understood but refused at start with the reason and
// what to use instead; a malformed URL is refused without its password.
func TestRedisURLRefusals(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "backupbot.yaml")
	writeFile(t, cfg, []byte("storages:\n  local: {type: local, path: "+filepath.Dir(cfg)+"/repo}\ntargets:\n  data: {paths: ["+filepath.Dir(cfg)+"]}\n"))
	for url, want := range map[string]string{
		"redis-cluster://:hunter2@127.0.0.1:7000,127.0.0.1:7001": "use Sentinel",
		"redis-sentinel://:hunter2@127.0.0.1:26379":              "names the master",
		"http://:hunter2@127.0.0.1:6379":                         "not one backupbot knows",
	} {
		t.Setenv("REDIS_URL", url)
		var out bytes.Buffer
		code := run(context.Background(), []string{"worker", "--config", cfg}, strings.NewReader(""), &out, &out)
		if code != 1 {
			t.Errorf("REDIS_URL=%s: exit %d, want 1\n%s", url, code, out.String())
		}
		if !strings.Contains(out.String(), want) {
			t.Errorf("REDIS_URL=%s: the error does not say %q:\n%s", url, want, out.String())
		}
		if strings.Contains(out.String(), "hunter2") {
			t.Errorf("REDIS_URL=%s: the password is in the output:\n%s", url, out.String())
		}
	}
}
