package humanize

import (
	"math"
	"testing"
)

func TestBytes(t *testing.T) {
	tests := map[int64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 7_100_000: "7.1 MB", 52_000_000: "52 MB", 1_234_000_000_000: "1.2 TB", -5: "0 B"}
	for in, want := range tests {
		if got := Bytes(in); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestRate(t *testing.T) {
	tests := map[float64]string{84_000_000: "84 MB/s", 0: "0 B/s", -1: "0 B/s", math.NaN(): "0 B/s", math.Inf(1): "0 B/s"}
	for in, want := range tests {
		if got := Rate(in); got != want {
			t.Errorf("Rate(%v) = %q, want %q", in, got, want)
		}
	}
}
