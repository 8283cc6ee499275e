// Package consoletest holds what the tests of the console adapter, and of
// anything driven through it, share: an output the console prints to while
// the test reads it.
package consoletest

import (
	"strings"
	"sync"
)

// Buffer is a console's output, safe for the prints of the console (or of
// several consoles sharing it) while a test reads it. The zero value is
// empty and ready to use.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is everything printed so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Lines are the lines printed so far.
func (s *Buffer) Lines() []string {
	return strings.Split(strings.TrimRight(s.String(), "\n"), "\n")
}
