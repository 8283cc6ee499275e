package commands

import (
	"strings"
	"testing"
)

// TestExportFormatRefusedWhenMissing: a format the machine cannot write is
// refused when the command is read (the router's parser), with the reason;
// the others still parse.
func TestExportFormatRefusedWhenMissing(t *testing.T) {
	p := Parser{MissingExportFormats: map[ExportFormat]string{Format7z: "it needs the 7z program"}}
	_, err := p.Parse("export --name x --format 7z")
	if err == nil || !strings.Contains(err.Error(), "7z program") || !strings.Contains(err.Error(), "--format") {
		t.Fatalf("Parse(export --format 7z) without 7z = %v; want a refusal with the reason", err)
	}
	for _, f := range []string{"tar", "zip"} {
		if _, err := p.Parse("export --name x --format " + f); err != nil {
			t.Errorf("--format %s refused: %v", f, err)
		}
	}
	if _, err := (Parser{}).Parse("export --name x --format 7z --force"); err != nil {
		t.Errorf("with 7z available: %v", err)
	}
}
