package jobs

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// What a job keeps in Redis is bounded: its record and its events carry a
// summary and a preview, never a whole listing or report (a list of 2,500
// backups was 1.3 MB per job, twice: record and event). Anything larger
// is written to a file in the worker's report directory, named in the
// result; an adapter on the same host (or sharing the directory) attaches
// the whole file, any other shows the preview and the file's location.
const (
	// PreviewLimit bounds a report's preview and a result's Data in Redis.
	PreviewLimit = 16 << 10
	// fieldLimit bounds each field's value.
	fieldLimit = 4 << 10
	// DefaultReportDir is where workers write full reports unless told
	// otherwise (relative to the working directory, beside ./var/repo).
	DefaultReportDir = "var/reports"
	// reportKeep is how long report files are kept (as long as records).
	reportKeep = finishedTTL
)

// boundResult returns res with its report, data and fields cut to their
// limits; what was cut is written whole to dir (as <job>-<name>) first.
func boundResult(res *Result, jobID, dir string, log *slog.Logger) *Result {
	if res == nil {
		return nil
	}
	out := *res
	if r := res.Report; r != nil && len(r.Data) > PreviewLimit {
		rep := *r
		path, err := writeReport(dir, jobID, r.Name, r.Data)
		note := fmt.Sprintf("\n… %d of %d bytes shown", len(preview(r.Data, PreviewLimit)), len(r.Data))
		if err != nil {
			log.Warn("could not keep the full report; only its preview is kept", "job", jobID, "err", err)
		} else {
			rep.Path = path
			note += "; the whole report is " + path
		}
		rep.Data = append(preview(r.Data, PreviewLimit), []byte(note+"\n")...)
		out.Report = &rep
	}
	if len(res.Data) > PreviewLimit {
		stub := map[string]any{"truncated": true, "bytes": len(res.Data)}
		if path, err := writeReport(dir, jobID, "data.json", res.Data); err == nil {
			stub["file"] = path
		} else {
			log.Warn("could not keep the result's data; it is left out", "job", jobID, "err", err)
		}
		out.Data, _ = json.Marshal(stub)
	}
	if len(res.Fields) > 0 {
		out.Fields = make([]Field, len(res.Fields))
		for i, f := range res.Fields {
			if len(f.Value) > fieldLimit {
				f.Value = string(preview([]byte(f.Value), fieldLimit)) + "\n…"
			}
			out.Fields[i] = f
		}
	}
	return &out
}

// preview returns the first limit bytes of b, cut at the last line end
// (or at a UTF-8 boundary when there is none).
func preview(b []byte, limit int) []byte {
	if len(b) <= limit {
		return b
	}
	cut := b[:limit]
	if i := strings.LastIndexByte(string(cut), '\n'); i > 0 {
		return append([]byte{}, cut[:i+1]...)
	}
	for limit > 0 && b[limit]&0xC0 == 0x80 {
		limit--
	}
	return append([]byte{}, b[:limit]...)
}

// writeReport writes data to dir/<job>-<name> and returns its absolute
// path; it also removes report files older than reportKeep.
func writeReport(dir, jobID, name string, data []byte) (string, error) {
	if dir == "" {
		dir = DefaultReportDir
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("create report directory %s: %w", dir, err)
	}
	pruneReports(dir)
	name = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r < ' ' {
			return '_'
		}
		return r
	}, filepath.Base(name))
	path := filepath.Join(dir, jobID+"-"+name)
	if err := os.WriteFile(path, data, 0o640); err != nil {
		return "", fmt.Errorf("write report %s: %w", path, err)
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return path, nil
}

func pruneReports(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() && time.Since(info.ModTime()) > reportKeep {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
