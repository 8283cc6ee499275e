package slack

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplitTextKeepsPiecesValidAndComplete(t *testing.T) {
	var listing strings.Builder
	listing.WriteString("Snapshots:\n```\n")
	for i := 0; i < 400; i++ {
		fmt.Fprintf(&listing, "snapshot-%04d  full  2025-01-15 02:00  84 MB  ✓\n", i)
	}
	listing.WriteString("```\nDone.")
	oneLongLine := strings.Repeat("é", 5000)

	cases := []struct {
		name string
		text string
	}{
		{"short", "just one line"},
		{"listing inside a code block", listing.String()},
		{"one line longer than a section", oneLongLine},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pieces := splitText(tc.text, maxSectionText)
			var rebuilt strings.Builder
			for i, p := range pieces {
				if len(p) > maxSectionText {
					t.Errorf("piece %d has %d bytes, limit %d", i, len(p), maxSectionText)
				}
				if !utf8.ValidString(p) {
					t.Errorf("piece %d cuts a character in half", i)
				}
				if strings.Count(p, "```")%2 != 0 {
					t.Errorf("piece %d leaves a code block open:\n%s", i, p)
				}
				rebuilt.WriteString(p)
			}
			// The split only adds fences and line breaks around cuts.
			bare := strings.NewReplacer("```", "", "\n", "")
			if bare.Replace(rebuilt.String()) != bare.Replace(tc.text) {
				t.Errorf("pieces do not add up to the text (%d vs %d bytes)", rebuilt.Len(), len(tc.text))
			}
		})
	}
}

func TestEscapeStopsMentionsAndLinks(t *testing.T) {
	got := escape("name <!channel> <@U123> <https://evil|click> a&b")
	want := "name &lt;!channel&gt; &lt;@U123&gt; &lt;https://evil|click&gt; a&amp;b"
	if got != want {
		t.Errorf("escape = %q, want %q", got, want)
	}
}
