package main

import (
	"io"
	"os"

	"golang.org/x/term"
)

// stdinIsTerminal reports whether r is a terminal someone can answer a
// prompt on (a variable, so tests can stand in for a terminal). What is a
// Confirm button in chat is a y/N prompt here, and a script says --force.
var stdinIsTerminal = func(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
