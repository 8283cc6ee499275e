package probe

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/backupbot/backupbot/internal/humanize"
)

// WriteText prints the report for a terminal: the summary, then one line
// per step with its time and, for write and read, its throughput, then the
// failed step's error. With debug, that error's whole chain of causes
// follows, one per line.
func (r *Report) WriteText(w io.Writer, debug bool) error {
	mark := "OK"
	if !r.OK() {
		mark = "FAILED"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s\n", mark, r.Summary)
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, s := range r.Steps {
		status := "ok"
		if !s.OK() {
			status = "FAILED"
		}
		detail := ""
		if s.OK() && s.Bytes > 0 && s.Duration > 0 {
			detail = fmt.Sprintf("%s at %s", humanize.Bytes(s.Bytes), humanize.Rate(float64(s.Bytes)/s.Duration.Seconds()))
		}
		fmt.Fprintf(tw, "  %s\t%s\t%8.1f ms\t%s\n", s.Name, status, ms(s.Duration), detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Leftover != "" {
		fmt.Fprintf(&b, "  note: could not delete the probe object %s; remove it by hand\n", r.Leftover)
	}
	for _, s := range r.Steps {
		if s.Err == nil {
			continue
		}
		fmt.Fprintf(&b, "  %s error: %v\n", s.Name, s.Err)
		if debug {
			for i, c := range causes(s.Err) {
				fmt.Fprintf(&b, "    cause %d (%T): %v\n", i+1, c, c)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// causes lists the errors wrapped under err, depth first.
func causes(err error) []error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, c := range u.Unwrap() {
				out = append(out, c)
				walk(c)
			}
		case interface{ Unwrap() error }:
			if c := u.Unwrap(); c != nil {
				out = append(out, c)
				walk(c)
			}
		}
	}
	walk(err)
	return out
}
