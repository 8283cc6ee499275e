package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/backupbot/backupbot/internal/quote"
	"github.com/backupbot/backupbot/storage/engine"
)

// progressView shows engine progress: a redrawn bar on a terminal (files,
// bytes, rate, ETA), plain lines every few seconds otherwise.
type progressView struct {
	w     io.Writer
	tty   bool
	width int
	start time.Time

	mu       sync.Mutex
	last     time.Time
	lastLine int
	phase    string
}

func newProgressView(w io.Writer) *progressView {
	pv := &progressView{w: w, start: time.Now()}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		pv.tty = true
		if width, _, err := term.GetSize(int(f.Fd())); err == nil {
			pv.width = width
		}
	}
	if pv.width <= 0 {
		pv.width = 100
	}
	return pv
}

// update is an engine.ProgressFunc.
func (pv *progressView) update(p engine.Progress) {
	pv.mu.Lock()
	defer pv.mu.Unlock()
	now := time.Now()
	every := 5 * time.Second
	if pv.tty {
		every = 200 * time.Millisecond
	}
	if p.Phase == pv.phase && now.Sub(pv.last) < every {
		return
	}
	pv.phase, pv.last = p.Phase, now
	line := pv.render(p, now)
	if pv.tty {
		pad := ""
		if n := pv.lastLine - len(line); n > 0 {
			pad = strings.Repeat(" ", n)
		}
		fmt.Fprintf(pv.w, "\r%s%s", line, pad)
		pv.lastLine = len(line)
		return
	}
	fmt.Fprintln(pv.w, line)
}

func (pv *progressView) render(p engine.Progress, now time.Time) string {
	elapsed := now.Sub(pv.start)
	var b strings.Builder
	fmt.Fprintf(&b, "%-7s", p.Phase)
	if p.BytesTotal > 0 {
		frac := min(float64(p.Bytes)/float64(p.BytesTotal), 1)
		if pv.tty {
			const barWidth = 20
			full := int(frac * barWidth)
			fmt.Fprintf(&b, " [%s%s]", strings.Repeat("=", full), strings.Repeat(" ", barWidth-full))
		}
		fmt.Fprintf(&b, " %3.0f%%", frac*100)
	}
	if p.FilesTotal > 0 {
		fmt.Fprintf(&b, " %d/%d files", p.Files, p.FilesTotal)
	} else if p.Files > 0 {
		fmt.Fprintf(&b, " %d files", p.Files)
	}
	if p.BytesTotal > 0 {
		fmt.Fprintf(&b, " %s/%s", humanBytes(p.Bytes), humanBytes(p.BytesTotal))
	} else if p.Bytes > 0 {
		fmt.Fprintf(&b, " %s", humanBytes(p.Bytes))
	}
	if secs := elapsed.Seconds(); secs > 0.5 && p.Bytes > 0 {
		rate := float64(p.Bytes) / secs
		fmt.Fprintf(&b, " %s/s", humanBytes(int64(rate)))
		if p.BytesTotal > p.Bytes && rate > 0 {
			eta := time.Duration(float64(p.BytesTotal-p.Bytes) / rate * float64(time.Second))
			fmt.Fprintf(&b, " ETA %s", eta.Round(time.Second))
		}
	}
	line := b.String()
	if p.Path != "" && pv.tty {
		room := pv.width - len(line) - 2
		if room > 10 {
			path := quote.Name(p.Path)
			if len(path) > room {
				path = "..." + path[len(path)-room+3:]
			}
			line += " " + path
		}
	}
	if pv.tty && len(line) >= pv.width {
		line = line[:pv.width-1]
	}
	return line
}

// done ends the bar's line on a terminal.
func (pv *progressView) done() {
	pv.mu.Lock()
	defer pv.mu.Unlock()
	if pv.tty && pv.lastLine > 0 {
		fmt.Fprintf(pv.w, "\r%s\r", strings.Repeat(" ", pv.lastLine))
		pv.lastLine = 0
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
