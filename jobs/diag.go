package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/internal/humanize"
	"github.com/backupbot/backupbot/storage"
	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/engine"
	"github.com/backupbot/backupbot/storage/retry"
)

// DiagnosticsOf is the --verbose and --debug of a command (every action's
// command embeds commands.Diagnostics); zero for one that has none.
func DiagnosticsOf(cmd commands.Command) commands.Diagnostics {
	v := reflect.ValueOf(cmd)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return commands.Diagnostics{}
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return commands.Diagnostics{}
	}
	if f := v.FieldByName("Diagnostics"); f.IsValid() {
		if d, ok := f.Interface().(commands.Diagnostics); ok {
			return d
		}
	}
	return commands.Diagnostics{}
}

// debugLogLines is how many of a --debug job's log lines its result shows
// inline; the whole log is attached when it is longer.
const debugLogLines = 20

// jobDebug is what --debug collects while a job runs: every storage call
// (by kind, with the attempts the retry layer made) and the job's log.
type jobDebug struct {
	calls    callCounter // what the job asked of the storage
	attempts callCounter // what reached the storage (retries included)
	log      *logCapture
}

// diagnose is the middleware behind --debug: the job's storage calls are
// counted and its log lines captured (at debug level, whatever the
// service logs), and both are added to the result, with secrets redacted
// by redact. Without --debug it does nothing.
func diagnose(redact func(string) string) Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, j *Job) (*Result, error) {
			if !DiagnosticsOf(j.Command).Debug {
				return next.Run(ctx, j)
			}
			d := &jobDebug{log: &logCapture{}}
			j.debug = d
			j.Logger = slog.New(&teeHandler{base: j.Logger.Handler(), capture: d.log.handler()})
			res, err := next.Run(ctx, j)
			if res == nil {
				res = resultOf(err)
			}
			if res == nil {
				res = &Result{}
			}
			d.addTo(res, redact)
			return res, err
		})
	}
}

// addTo adds the storage calls and the log to res.
func (d *jobDebug) addTo(res *Result, redact func(string) string) {
	if redact == nil {
		redact = func(s string) string { return s }
	}
	if rows := d.calls.rows(&d.attempts); len(rows) > 0 {
		res.Fields = append(res.Fields, Field{"Storage calls", strings.TrimRight(table([]string{"CALL", "COUNT", "BYTES", "TIME", "RETRIES", "ERRORS"}, rows), "\n")})
	}
	lines := d.log.lines()
	if len(lines) == 0 {
		return
	}
	for i, l := range lines {
		lines[i] = redact(l)
	}
	shown := lines
	if len(lines) > debugLogLines {
		shown = append([]string{fmt.Sprintf("… %d earlier lines (see the attached log)", len(lines)-debugLogLines)}, lines[len(lines)-debugLogLines:]...)
		whole := []byte(strings.Join(lines, "\n") + "\n")
		if res.Report == nil {
			res.Report = &Report{Name: "job-log.txt", Data: whole}
		} else {
			res.Report.Data = append(append(res.Report.Data, "\n\njob log:\n"...), whole...)
		}
	}
	res.Fields = append(res.Fields, Field{"Log", strings.Join(shown, "\n")})
}

// openBackend opens a storage for a job: with --debug, wrapped so that its
// calls are counted, both as the job made them and as they reached the
// storage through the retry layer.
func (w *Worker) openBackend(ctx context.Context, j *Job, spec storage.Spec) (backend.Backend, error) {
	b, err := w.deps.OpenBackend(ctx, spec)
	if err != nil || j == nil || j.debug == nil {
		return b, err
	}
	if rb, ok := b.(*retry.Backend); ok {
		// Count under the retry layer too, and log its retries to the job.
		b = retry.New(counting(rb.Unwrap(), &j.debug.attempts), retry.Options{Logger: j.Logger})
	}
	return counting(b, &j.debug.calls), nil
}

// counting wraps b so that c counts its calls. The wrapper hides b from
// the Unwrap chain (the storage probe strips retry layers through it and
// would strip the counting too) but keeps a local directory's Dir, which
// a backup uses to leave the repository out of its sources.
func counting(b backend.Backend, c *callCounter) backend.Backend {
	cb := &countingBackend{Backend: b, c: c}
	for inner := b; inner != nil; {
		if d, ok := inner.(interface{ Dir() string }); ok {
			return &countingLocal{countingBackend: cb, dir: d.Dir()}
		}
		u, ok := inner.(interface{ Unwrap() backend.Backend })
		if !ok {
			break
		}
		inner = u.Unwrap()
	}
	return cb
}

// countingLocal is a countingBackend over a local directory.
type countingLocal struct {
	*countingBackend
	dir string
}

func (b *countingLocal) Dir() string { return b.dir }

// callCounter sums storage calls per kind.
type callCounter struct {
	mu sync.Mutex
	m  map[string]*callStat
}

type callStat struct {
	count, bytes, errors int64
	time                 time.Duration
}

func (c *callCounter) add(op string, bytes int64, d time.Duration, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*callStat{}
	}
	s := c.m[op]
	if s == nil {
		s = &callStat{}
		c.m[op] = s
	}
	s.count++
	s.bytes += bytes
	s.time += d
	if err != nil {
		s.errors++
	}
}

// rows are the counted calls, one per kind in a fixed order; retries are
// the attempts beyond the calls (0 where no retry layer counts them).
func (c *callCounter) rows(attempts *callCounter) [][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	attempts.mu.Lock()
	defer attempts.mu.Unlock()
	var rows [][]string
	for _, op := range []string{"put", "get", "stat", "list", "delete"} {
		s := c.m[op]
		if s == nil {
			continue
		}
		retries := int64(0)
		if a := attempts.m[op]; a != nil && a.count > s.count {
			retries = a.count - s.count
		}
		rows = append(rows, []string{op, humanCount(s.count), humanize.Bytes(s.bytes), humanDuration(s.time), humanCount(retries), humanCount(s.errors)})
	}
	return rows
}

// countingBackend counts the calls to the Backend it wraps.
type countingBackend struct {
	backend.Backend
	c *callCounter
}

func (b *countingBackend) Put(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
	start := time.Now()
	err := b.Backend.Put(ctx, key, body, size)
	b.c.add("put", size, time.Since(start), err)
	return err
}

func (b *countingBackend) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	start := time.Now()
	rc, err := b.Backend.Get(ctx, key, offset, length)
	if err != nil {
		b.c.add("get", 0, time.Since(start), err)
		return nil, err
	}
	return &countedBody{ReadCloser: rc, c: b.c, start: start}, nil
}

func (b *countingBackend) Stat(ctx context.Context, key string) (backend.Info, error) {
	start := time.Now()
	info, err := b.Backend.Stat(ctx, key)
	b.c.add("stat", 0, time.Since(start), err)
	return info, err
}

func (b *countingBackend) List(ctx context.Context, prefix string, fn func(backend.Info) error) error {
	start := time.Now()
	err := b.Backend.List(ctx, prefix, fn)
	b.c.add("list", 0, time.Since(start), err)
	return err
}

func (b *countingBackend) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := b.Backend.Delete(ctx, key)
	b.c.add("delete", 0, time.Since(start), err)
	return err
}

// countedBody counts a Get when its body is closed: the bytes read and
// the time from the call to the close.
type countedBody struct {
	io.ReadCloser
	c     *callCounter
	start time.Time
	n     int64
	err   error
	once  sync.Once
}

func (r *countedBody) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.n += int64(n)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

func (r *countedBody) Close() error {
	err := r.ReadCloser.Close()
	r.once.Do(func() { r.c.add("get", r.n, time.Since(r.start), r.err) })
	return err
}

// logCapture keeps a job's log lines as text, one record a line.
type logCapture struct {
	mu   sync.Mutex
	text []string
}

// Write takes one record (a text handler writes each with one call).
func (l *logCapture) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.text = append(l.text, strings.TrimRight(string(p), "\n"))
	l.mu.Unlock()
	return len(p), nil
}

// handler writes every record, debug included, without its time.
func (l *logCapture) handler() slog.Handler {
	return slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})
}

func (l *logCapture) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.text)
}

// teeHandler sends records to the service's handler (at its level) and to
// a capture (at every level).
type teeHandler struct {
	base, capture slog.Handler
}

func (t *teeHandler) Enabled(context.Context, slog.Level) bool { return true }

func (t *teeHandler) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if t.base.Enabled(ctx, r.Level) {
		err = t.base.Handle(ctx, r.Clone())
	}
	return errors.Join(err, t.capture.Handle(ctx, r))
}

func (t *teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &teeHandler{base: t.base.WithAttrs(as), capture: t.capture.WithAttrs(as)}
}

func (t *teeHandler) WithGroup(name string) slog.Handler {
	return &teeHandler{base: t.base.WithGroup(name), capture: t.capture.WithGroup(name)}
}

// phasesField is --verbose's account of one or more backups: each phase
// (scan, read, chunk, compress, encrypt, upload, commit) with its time
// and counts, summed over the backups.
func phasesField(rs []*engine.BackupResult) (Field, bool) {
	var order []string
	sum := map[string]*engine.PhaseStat{}
	for _, r := range rs {
		for _, p := range r.Phases {
			s := sum[p.Name]
			if s == nil {
				s = &engine.PhaseStat{Name: p.Name, Unit: p.Unit}
				sum[p.Name] = s
				order = append(order, p.Name)
			}
			s.Duration += p.Duration
			s.Count += p.Count
			s.Bytes += p.Bytes
		}
	}
	if len(order) == 0 {
		return Field{}, false
	}
	rows := make([][]string, len(order))
	for i, name := range order {
		s := sum[name]
		bytes := "–"
		if s.Bytes > 0 {
			bytes = humanize.Bytes(s.Bytes)
		}
		rows[i] = []string{name, humanDuration(s.Duration), humanCount(s.Count) + " " + s.Unit, bytes}
	}
	return Field{"Phases", strings.TrimRight(table([]string{"PHASE", "TIME", "COUNT", "BYTES"}, rows), "\n")}, true
}
