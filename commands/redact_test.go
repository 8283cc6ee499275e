package commands

import (
	"strings"
	"testing"
)

func TestRedactReplacesSecretsInEveryStringOfACommand(t *testing.T) {
	redact := func(s string) string {
		s = strings.ReplaceAll(s, "hunter2-secret", "[REDACTED]")
		return strings.ReplaceAll(s, "password=opensesame", "password=[REDACTED]")
	}
	c := &Create{Type: TypeFull, Target: "data", Name: "hunter2-secret-backup",
		Tags: []Tag{{Key: "note", Value: "hunter2-secret"}, {Key: "password", Value: "opensesame"}, {Key: "team", Value: "ops"}}}
	got, err := Redact(c, redact)
	if err != nil {
		t.Fatal(err)
	}
	text := Render(got)
	for _, s := range []string{"hunter2-secret", "opensesame"} {
		if strings.Contains(text, s) {
			t.Errorf("redacted command still holds %q: %s", s, text)
		}
	}
	if !strings.Contains(text, "team=ops") || !strings.Contains(text, "--target data") {
		t.Errorf("redaction removed ordinary values: %s", text)
	}
	if c.Tags[0].Value != "hunter2-secret" {
		t.Error("Redact changed the command it was given")
	}
	if same, _ := Redact(&List{}, redact); same == nil {
		t.Error("a command without secrets was lost")
	}
}
