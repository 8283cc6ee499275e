package randid

import (
	"regexp"
	"testing"
)

// Ids are the asked length in hex and do not repeat.
func TestHex(t *testing.T) {
	hexRE := regexp.MustCompile(`^[0-9a-f]{8}$`)
	seen := map[string]bool{}
	for range 1000 {
		if id := Hex(4); !hexRE.MatchString(id) {
			t.Fatalf("Hex(4) = %q, want 8 lowercase hex digits", id)
		}
		id := Hex(12)
		if seen[id] {
			t.Fatalf("Hex(12) repeated %q within 1000 calls", id)
		}
		seen[id] = true
	}
}
