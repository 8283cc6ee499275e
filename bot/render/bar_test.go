package render

import (
	"testing"
	"time"
)

func TestLineReadsLikeTheIssueExample(t *testing.T) {
	l := Line{Bytes: 1_200_000_000, BytesTotal: 2_300_000_000, BytesPerSecond: 84_000_000, ETA: 14 * time.Second}
	want := "▓▓▓▓▓░░░░░ 52% · 1.2 GB of 2.3 GB · 84 MB/s · ETA 0:14"
	if got := l.String(); got != want {
		t.Fatalf("progress line:\n got %q\nwant %q", got, want)
	}
}

func TestLine(t *testing.T) {
	tests := []struct {
		name string
		line Line
		want string
	}{
		{"nothing known shows the phase", Line{Phase: "scanning"}, "scanning"},
		{"files only", Line{Phase: "scanning", Files: 12}, "scanning · 12 files"},
		{"by files when bytes are unknown", Line{Files: 3, FilesTotal: 4}, "▓▓▓▓▓▓▓▓░░ 75% · 3 of 4 files"},
		{"done hides the ETA", Line{Bytes: 10, BytesTotal: 10, ETA: time.Second}, "▓▓▓▓▓▓▓▓▓▓ 100% · 10 B of 10 B"},
		{"overrun is clamped", Line{Bytes: 20, BytesTotal: 10}, "▓▓▓▓▓▓▓▓▓▓ 100% · 20 B of 10 B"},
		{"long ETA has hours", Line{Bytes: 1, BytesTotal: 100, ETA: 3*time.Hour + 4*time.Minute + 5*time.Second}, "░░░░░░░░░░ 1% · 1 B of 100 B · ETA 3:04:05"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.line.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBarWidthAndClamp(t *testing.T) {
	if got := Bar(-1, 4); got != "░░░░" {
		t.Errorf("Bar(-1) = %q", got)
	}
	if got := Bar(0.5, 4); got != "▓▓░░" {
		t.Errorf("Bar(0.5) = %q", got)
	}
	if got := Bar(2, 4); got != "▓▓▓▓" {
		t.Errorf("Bar(2) = %q", got)
	}
}
