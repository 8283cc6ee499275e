package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// A secret from the environment never reaches the log, whether in the
// message, a string attribute or an error, in either format.
func TestLogsNeverShowSecrets(t *testing.T) {
	const token = "xoxb-0000-secret-bot-token-for-the-log-test"
	const password = "correct horse battery staple"
	t.Setenv("SLACK_BOT_TOKEN", token)
	t.Setenv("BACKUPBOT_REPO_PASSWORD", password)
	for _, format := range []string{"text", "json"} {
		var out bytes.Buffer
		log, err := newLogger(&out, format, "info", false)
		if err != nil {
			t.Fatal(err)
		}
		log.Info("job ended for "+password, "reason", `no snapshot named "`+password+`"`,
			"err", errors.New("slack said no to "+token), "job", "8f3a01bc")
		got := out.String()
		for _, secret := range []string{token, password} {
			if strings.Contains(got, secret) {
				t.Errorf("%s log shows a secret: %s", format, got)
			}
		}
		if !strings.Contains(got, "8f3a01bc") || !strings.Contains(got, "[REDACTED]") {
			t.Errorf("%s log lost its ordinary content or shows no redaction: %s", format, got)
		}
	}
}
