package jobs

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/backupbot/backupbot/internal/quote"
	"github.com/backupbot/backupbot/storage/engine"
)

// skippedInline is how many skipped paths a partial backup's result
// names in the message before attaching the whole list.
const skippedInline = 10

// skippedLineMax bounds one skipped line in the message; a longer one
// keeps its first skippedHead bytes and its end (file name and reason).
const (
	skippedLineMax = 400
	skippedHead    = 80
)

// partialResult marks res as partial when a backup skipped files: the
// summary says so, a field names the first skipped paths (quoted) and a
// report attaches all of them.
func partialResult(res *Result, rs []*engine.BackupResult) {
	var count int64
	var lines []string
	for _, r := range rs {
		s := r.Snapshot
		if !s.Partial {
			continue
		}
		count += s.SkippedCount
		for _, sk := range s.Skipped {
			lines = append(lines, quote.Name(sk.Path)+": "+sk.Error)
		}
		if n := s.SkippedCount - int64(len(s.Skipped)); n > 0 {
			lines = append(lines, fmt.Sprintf("… and %d more in %s", n, s.Name))
		}
	}
	if count == 0 {
		return
	}
	res.Partial = true
	what := fmt.Sprintf("%d files could not be read and are", count)
	if count == 1 {
		what = "1 file could not be read and is"
	}
	res.Summary = fmt.Sprintf("%s — PARTIAL: %s not in the backup", res.Summary, what)
	shown := make([]string, 0, skippedInline)
	elided := false
	for _, l := range lines[:min(len(lines), skippedInline)] {
		// A path near PATH_MAX would fill the message: its middle goes
		// (the file name and the reason stay); the attachment has it whole.
		if len(l) > skippedLineMax {
			head, tail := skippedHead, len(l)-(skippedLineMax-skippedHead)
			for head > 0 && !utf8.RuneStart(l[head]) {
				head--
			}
			for tail < len(l) && !utf8.RuneStart(l[tail]) {
				tail++
			}
			l = l[:head] + " … " + l[tail:]
			elided = true
		}
		shown = append(shown, l)
	}
	text := strings.Join(shown, "\n")
	if len(lines) > skippedInline {
		text += fmt.Sprintf("\n… and %d more (see the attached list)", len(lines)-skippedInline)
	}
	if len(lines) > skippedInline || elided {
		res.Report = &Report{Name: "skipped.txt", Data: []byte(strings.Join(lines, "\n") + "\n")}
	}
	res.Fields = append([]Field{{"Skipped", text}}, res.Fields...)
}

// snapshotType is a snapshot's type for listings, "full (partial)" when
// the backup skipped files.
func snapshotType(s engine.SnapshotInfo) string {
	if s.Partial {
		return s.Type + " (partial)"
	}
	return s.Type
}
