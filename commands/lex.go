package commands

import (
	"strings"

	"github.com/google/shlex"
)

// maxInput bounds the text one command may be; chat platforms cap theirs
// well below it.
const maxInput = 8 << 10

// chatReplacer undoes what chat clients and phones do to typed text:
// "smart" quotes and non-breaking spaces.
var chatReplacer = strings.NewReplacer(
	"\u201c", `"`, "\u201d", `"`, "\u201e", `"`, "\u2033", `"`,
	"\u2018", "'", "\u2019", "'",
	"\u00a0", " ", "\u2007", " ", "\u202f", " ",
)

// split breaks text into words the way a POSIX shell would (quotes,
// backslash escapes, # comments at the start of a word), after undoing
// smart quotes and non-breaking spaces.
func split(text string) ([]string, error) {
	if len(text) > maxInput {
		return nil, &Error{Message: "the command is too long", Hint: "Keep it under 8 KiB."}
	}
	words, err := shlex.Split(chatReplacer.Replace(text))
	if err != nil {
		msg := "the command could not be split into words"
		switch {
		case strings.Contains(err.Error(), "closing quote"):
			msg = "a quote is not closed"
		case strings.Contains(err.Error(), "escape character"):
			msg = "the command ends with a lone backslash"
		}
		return nil, &Error{Message: msg, Hint: "Put quotes in pairs, e.g. --name \"pre deployment\"."}
	}
	return words, nil
}

// Quote returns s as one word that split reads back as exactly s: bare
// when it is made only of safe characters, else in single quotes, else (when
// it holds a single quote) in double quotes with " and \ escaped.
func Quote(s string) string {
	if s != "" && !strings.HasPrefix(s, "#") && strings.Trim(s, safeChars) == "" {
		return s
	}
	if !strings.ContainsRune(s, '\'') {
		return "'" + s + "'"
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

const safeChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,/:@%+=#^"
