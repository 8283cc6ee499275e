// Package quote makes file names safe to print on a terminal or in a chat
// message: a name holding control characters, escape sequences, invalid
// UTF-8 or invisible formatting characters (bidirectional overrides) is
// shown quoted with those bytes escaped, so a hostile name cannot move the
// cursor, recolour the screen, hide text or forge a line. It is a leaf
// (standard library only) so every room may use it: storage for its
// warnings, jobs and bot for results, cmd for the terminal.
package quote

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Name returns s unchanged when every character is printable, otherwise
// s as a Go-quoted string ("a\x1b[31mb"). A quoted name starts with a
// double quote; a plain name that itself starts with one is quoted too,
// so the two never look alike.
func Name(s string) string {
	if safe(s) {
		return s
	}
	return strconv.Quote(s)
}

func safe(s string) bool {
	if s != "" && s[0] == '"' {
		return false
	}
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return false
			}
		}
		if r != ' ' && !strconv.IsPrint(r) || unicode.Is(unicode.Cf, r) {
			return false
		}
	}
	return true
}

// Lines applies Name to each line of a message (an error or a warning
// that embeds file names), keeping its line breaks.
func Lines(msg string) string {
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		lines[i] = Name(l)
	}
	return strings.Join(lines, "\n")
}
