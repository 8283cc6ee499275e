// Package render turns job progress, results and failures into the chat
// messages every adapter shows: the parent line of a job, the progress bar
// edited in place, the summary and the failure explanation. It does no I/O.
package render

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/backupbot/backupbot/internal/humanize"
)

// BarWidth is the number of cells in a progress bar.
const BarWidth = 10

// Bar draws a bar of width cells for fraction (clamped to 0..1), using ▓
// for done cells and ░ for the rest.
func Bar(fraction float64, width int) string {
	if width <= 0 {
		width = BarWidth
	}
	if math.IsNaN(fraction) || fraction < 0 {
		fraction = 0
	}
	if fraction > 1 {
		fraction = 1
	}
	done := int(math.Round(fraction * float64(width)))
	return strings.Repeat("▓", done) + strings.Repeat("░", width-done)
}

// Duration renders a remaining time as M:SS, or H:MM:SS from an hour up.
func Duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d.Round(time.Second) / time.Second)
	h, m, sec := s/3600, (s/60)%60, s%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, sec)
	}
	return fmt.Sprintf("%d:%02d", m, sec)
}

// Line is one progress reading in plain numbers, independent of where it
// came from.
type Line struct {
	Phase             string
	Files, FilesTotal int64
	Bytes, BytesTotal int64
	Path              string
	BytesPerSecond    float64
	ETA               time.Duration
}

// Fraction is how far along the work is: by bytes when a byte total is
// known, else by files, else 0.
func (l Line) Fraction() float64 {
	switch {
	case l.BytesTotal > 0:
		return float64(l.Bytes) / float64(l.BytesTotal)
	case l.FilesTotal > 0:
		return float64(l.Files) / float64(l.FilesTotal)
	}
	return 0
}

// String renders the reading as one line:
// `▓▓▓▓▓░░░░░ 52% · 1.2 GB of 2.3 GB · 84 MB/s · ETA 0:14`, leaving out
// what is not known (no total: no percentage and no ETA).
func (l Line) String() string {
	parts := make([]string, 0, 6)
	known := l.BytesTotal > 0 || l.FilesTotal > 0
	frac := l.Fraction()
	if known {
		parts = append(parts, fmt.Sprintf("%s %d%%", Bar(frac, BarWidth), int(math.Floor(math.Min(frac, 1)*100))))
	} else if l.Phase != "" {
		parts = append(parts, l.Phase)
	}
	switch {
	case l.BytesTotal > 0:
		parts = append(parts, fmt.Sprintf("%s of %s", humanize.Bytes(l.Bytes), humanize.Bytes(l.BytesTotal)))
	case l.Bytes > 0:
		parts = append(parts, humanize.Bytes(l.Bytes))
	}
	switch {
	case l.FilesTotal > 0:
		parts = append(parts, fmt.Sprintf("%d of %d files", l.Files, l.FilesTotal))
	case l.Files > 0:
		parts = append(parts, fmt.Sprintf("%d files", l.Files))
	}
	if l.BytesPerSecond > 0 {
		parts = append(parts, humanize.Rate(l.BytesPerSecond))
	}
	if known && l.ETA > 0 && frac < 1 {
		parts = append(parts, "ETA "+Duration(l.ETA))
	}
	return strings.Join(parts, " · ")
}
