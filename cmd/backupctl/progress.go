package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"unicode/utf8"

	"golang.org/x/term"

	"github.com/backupbot/backupbot/bot/render"

	"github.com/backupbot/backupbot/internal/quote"
	"github.com/backupbot/backupbot/jobs"
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

// update takes a job's progress report.
func (pv *progressView) update(p jobs.Progress) {
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
	line := pv.render(p)
	if pv.tty {
		pad := ""
		if n := pv.lastLine - utf8.RuneCountInString(line); n > 0 {
			pad = strings.Repeat(" ", n)
		}
		fmt.Fprintf(pv.w, "\r%s%s", line, pad)
		pv.lastLine = utf8.RuneCountInString(line)
		return
	}
	fmt.Fprintln(pv.w, line)
}

// render is the chat's progress line (render.Progress: bar, bytes,
// files, rate, ETA) after the phase, with the current path on a terminal.
func (pv *progressView) render(p jobs.Progress) string {
	line := render.Progress(p)
	if p.Phase != "" && !strings.HasPrefix(line, p.Phase) {
		line = fmt.Sprintf("%-7s %s", p.Phase, line)
	}
	if p.Path != "" && pv.tty {
		room := pv.width - utf8.RuneCountInString(line) - 2
		if room > 10 {
			path := []rune(quote.Name(p.Path))
			if len(path) > room {
				path = append([]rune("..."), path[len(path)-room+3:]...)
			}
			line += " " + string(path)
		}
	}
	if r := []rune(line); pv.tty && len(r) >= pv.width {
		line = string(r[:pv.width-1])
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
