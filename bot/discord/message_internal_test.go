package discord

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/backupbot/backupbot/bot"
)

func TestDiscordMarkdown(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain", "plain"},
		{"*bold* text", "**bold** text"},
		{"✅ *Done*: `data` *84 MB*", "✅ **Done**: `data` **84 MB**"},
		{"`*not bold*` and *bold*", "`*not bold*` and **bold**"},
		{"```\n*kept*\n```\n*bold*", "```\n*kept*\n```\n**bold**"},
		{"a*b*c", "a*b*c"},
		{"5 * 3 * 2", "5 * 3 * 2"},
		{"*a* *b*", "**a** **b**"},
		{"**already**", "**already**"},
	}
	for _, tc := range cases {
		if got := discordMarkdown(tc.in); got != tc.want {
			t.Errorf("discordMarkdown(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRenderStaysWithinDiscordLimits(t *testing.T) {
	var ids customIDs
	fields := make([]bot.Field, 60)
	for i := range fields {
		fields[i] = bot.Field{Label: strings.Repeat("L", 300), Value: strings.Repeat("v", 1500)}
	}
	buttons := make([]bot.Button, 30)
	for i := range buttons {
		buttons[i] = bot.Button{ActionID: "retry", Label: strings.Repeat("b", 100), Value: strings.Repeat("x", i)}
	}
	r := ids.render(bot.Message{Text: strings.Repeat("é", 2500), Fields: fields, Buttons: buttons})

	if n := utf8.RuneCountInString(r.Content); n > maxContent {
		t.Errorf("content %d characters", n)
	}
	if r.Full == "" {
		t.Error("the full text of a cut message is not kept for attaching")
	}
	total := 0
	for _, e := range r.Embeds {
		if len(e.Fields) > maxEmbedFields {
			t.Errorf("embed with %d fields", len(e.Fields))
		}
		for _, f := range e.Fields {
			if utf8.RuneCountInString(f.Name) > maxFieldName || utf8.RuneCountInString(f.Value) > maxFieldValue {
				t.Errorf("field %d/%d characters", utf8.RuneCountInString(f.Name), utf8.RuneCountInString(f.Value))
			}
			total += utf8.RuneCountInString(f.Name) + utf8.RuneCountInString(f.Value)
		}
	}
	if total > maxEmbedTotal || len(r.Embeds) > maxEmbeds {
		t.Errorf("%d embeds with %d characters", len(r.Embeds), total)
	}
	if len(r.Components) > maxActionRows {
		t.Errorf("%d action rows", len(r.Components))
	}
}

func TestThreadName(t *testing.T) {
	cases := []struct{ in, want string }{
		{"🗄 *Backup* of `data` by alice\nsecond line", "🗄 Backup of data by alice"},
		{"", "backupbot job"},
		{"``", "backupbot job"},
		{strings.Repeat("x", 150), strings.Repeat("x", 99) + "…"},
	}
	for _, tc := range cases {
		if got := threadName(tc.in); got != tc.want {
			t.Errorf("threadName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
