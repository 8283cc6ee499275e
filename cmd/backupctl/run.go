package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/backupbot/backupbot/bot/render"
	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/internal/quote"
	"github.com/backupbot/backupbot/jobs"
)

// Exit codes (see the interfaces document).
const (
	exitOK      = 0 // success
	exitFailed  = 1 // the operation failed
	exitUsage   = 2 // bad input: a command that does not parse, an unknown configured name, a bad config
	exitPartial = 3 // done in part: a backup that could not read some files (its snapshot says so)
)

const usage = `usage: backupctl [--json] [--config FILE] ACTION [options]
       backupctl parse TEXT...     print the typed command as JSON, run nothing
       backupctl help [ACTION]     list the actions, or one action's options

ACTION [options] is the /backup command language, as in chat; a leading
/backup word is ignored, and one quoted argument is read as typed in chat:
  backupctl create --type full --target data
  backupctl '/backup restore --name "pre deployment" --preview'
--json and --config must be separate arguments. The configuration is
--config FILE, else $BACKUPBOT_CONFIG, else ./backupbot.yaml, else built-in
defaults. Exit codes: 0 ok, 1 the operation failed, 2 bad input.`

// app is what one backupctl run works with; execute receives it.
type app struct {
	cfg     *config.File
	cfgPath string // "" when the embedded defaults are in use
	stdout  io.Writer
	stderr  io.Writer
	stdin   io.Reader
	json    bool
}

// usageError marks an error from execute as bad input (exit code 2), e.g.
// a --storage or --target name the configuration does not define.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// badInput wraps err so that run exits with code 2.
func badInput(err error) error { return &usageError{err: err} }

// partialError marks an error from execute as a partial success (exit 3).
type partialError struct{ err error }

func (e *partialError) Error() string { return e.err.Error() }
func (e *partialError) Unwrap() error { return e.err }

// run is main without the process: it returns the exit code. SIGINT and
// SIGTERM cancel the context execute runs under.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runContext(ctx, args, stdin, stdout, stderr)
}

func runContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	globals, words, err := splitGlobals(args)
	if err != nil {
		fmt.Fprintf(stderr, "backupctl: %v\n\n%s\n", err, usage)
		return exitUsage
	}
	cfg, cfgPath, err := config.Resolve(globals.configPath)
	if err != nil {
		fmt.Fprintf(stderr, "backupctl: %v\n", err)
		return exitUsage
	}
	a := &app{cfg: cfg, cfgPath: cfgPath, stdout: stdout, stderr: stderr, stdin: stdin, json: globals.json}

	if len(words) > 0 && words[0] == "parse" {
		return a.exitCode(a.parse(words[1:]))
	}
	if len(words) == 1 && (words[0] == "--help" || words[0] == "-h") {
		return a.exitCode(a.help(""))
	}
	cmd, err := a.parseCommand(words)
	if err != nil {
		return a.exitCode(err)
	}
	if h, ok := cmd.(*commands.Help); ok {
		return a.exitCode(a.help(h.Topic))
	}
	a.seedDefaults(cmd)
	return a.exitCode(execute(ctx, a, cmd))
}

// seedDefaults creates the embedded defaults' target directory
// (./var/data) before the first create on a fresh clone, as backupbot
// serve does, so the README's commands work in order.
func (a *app) seedDefaults(cmd commands.Command) {
	if a.cfgPath != "" || cmd.Action() != commands.ActionCreate {
		return
	}
	created, err := a.cfg.SeedDefaultTargets()
	for _, p := range created {
		fmt.Fprintf(a.stderr, "backupctl: created %s, the default target's directory (embedded defaults); put your files there\n", p)
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "backupctl: %v\n", err)
	}
}

// globals are backupctl's own flags, which sit beside the command's words.
type globals struct {
	json       bool
	configPath string
}

// splitGlobals takes --json, --config FILE and --config=FILE out of args,
// wherever they are, and returns the rest in order.
func splitGlobals(args []string) (globals, []string, error) {
	var g globals
	var words []string
	for i := 0; i < len(args); i++ {
		switch arg := args[i]; {
		case arg == "--json":
			g.json = true
		case arg == "--config":
			if i+1 >= len(args) || args[i+1] == "" {
				return g, nil, errors.New("--config needs a file name")
			}
			i++
			g.configPath = args[i]
		case strings.HasPrefix(arg, "--config="):
			g.configPath = strings.TrimPrefix(arg, "--config=")
			if g.configPath == "" {
				return g, nil, errors.New("--config needs a file name")
			}
		default:
			words = append(words, arg)
		}
	}
	return g, words, nil
}

// parseCommand reads the command words with the configuration's parser.
// One argument is chat text, split as chat text is; several are words the
// shell already split (so quotes inside them are literal).
func (a *app) parseCommand(words []string) (commands.Command, error) {
	p := a.cfg.Parser()
	if len(words) == 1 {
		return p.Parse(words[0])
	}
	return p.ParseWords(words)
}

// exitCode reports err on stderr (as JSON with --json) and maps it to the
// exit code: bad input 2, any other failure 1.
func (a *app) exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	code := exitFailed
	var cmdErr *commands.Error
	var usage *usageError
	var partial *partialError
	switch {
	case errors.As(err, &cmdErr) || errors.As(err, &usage):
		code = exitUsage
	case errors.As(err, &partial):
		code = exitPartial
	}
	if a.json {
		out := struct {
			Error  string          `json:"error"`
			Detail *commands.Error `json:"detail,omitempty"`
			Exit   int             `json:"exit_code"`
		}{Error: err.Error(), Detail: cmdErr, Exit: code}
		enc := json.NewEncoder(a.stderr)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
		return code
	}
	fmt.Fprintf(a.stderr, "backupctl: %s\n", quote.Lines(err.Error()))
	return code
}

// deps are what the handlers need, from backupctl's configuration.
func (a *app) deps() jobs.Deps {
	return jobs.Deps{
		Config:   func() *config.File { return a.cfg },
		Password: config.RepoPassword,
		Logger:   a.logger(),
		Redact:   a.redactor(),
	}
}

// local runs cmd with the worker's handler in this process, showing its
// progress on stderr.
func (a *app) local(ctx context.Context, cmd commands.Command) (*jobs.Result, error) {
	pv := newProgressView(a.stderr)
	defer pv.done()
	return jobs.RunLocal(ctx, a.deps(), cmd, pv.update)
}

// runJob runs cmd in-process with the service's own job handler, showing
// its progress on stderr, and prints the result as chat words it
// (render.Text), or with --json the result as JSON. A report the handler
// attaches goes to stdout, or into a directory: an export's --destination,
// the working directory for verify's report. The exit code follows the
// result's state: bad input 2, a failure 1, a partial result 3.
func (a *app) runJob(ctx context.Context, cmd commands.Command) error {
	res, err := a.local(ctx, cmd)
	if res != nil {
		if perr := a.printResult(cmd, res, err == nil); perr != nil {
			return errors.Join(err, perr)
		}
	}
	return outcome(res, err)
}

// outcome is the error backupctl ends with for a job's result and error.
func outcome(res *jobs.Result, err error) error {
	switch {
	case errors.Is(err, jobs.ErrBadInput):
		return badInput(err)
	case errors.Is(err, jobs.ErrNeedsService):
		return fmt.Errorf("%w: run backupbot serve and use the chat or console adapter", err)
	case err != nil:
		return err
	case res != nil && res.Partial:
		// The summary says what is missing; a backup names what it skipped.
		msg := "partial result: " + res.Summary
		for _, f := range res.Fields {
			if f.Label == "Skipped" {
				msg += ":\n" + f.Value
			}
		}
		return &partialError{err: errors.New(msg)}
	}
	return nil
}

// printResult prints res: the text (or JSON) on stdout, then its report;
// ok says whether the job succeeded.
func (a *app) printResult(cmd commands.Command, res *jobs.Result, ok bool) error {
	if a.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else if _, err := io.WriteString(a.stdout, render.Text(res)); err != nil {
		return err
	}
	if res.Report == nil {
		return nil
	}
	dir := ""
	switch c := cmd.(type) {
	case *commands.Export:
		dir = c.Destination
	case *commands.Verify:
		dir = "."
	}
	if dir == "" {
		if a.json {
			return nil // the JSON holds the report
		}
		_, err := fmt.Fprintf(a.stdout, "\n%s:\n%s", res.Report.Name, res.Report.Data)
		return err
	}
	paths := []string{filepath.Join(dir, filepath.Base(res.Report.Name))}
	files := [][]byte{res.Report.Data}
	if _, ok := cmd.(*commands.Verify); ok && a.json {
		// verify --report --json: the machine-readable report beside it.
		data, err := json.MarshalIndent(struct {
			OK     bool            `json:"ok"`
			Result *jobs.Result    `json:"result"`
			Report json.RawMessage `json:"report"`
		}{ok, res, res.Data}, "", "  ")
		if err != nil {
			return err
		}
		paths = append(paths, strings.TrimSuffix(paths[0], filepath.Ext(paths[0]))+".json")
		files = append(files, append(data, '\n'))
	}
	msgs := a.stdout
	if a.json {
		msgs = a.stderr
	}
	for i, p := range paths {
		if err := os.WriteFile(p, files[i], 0o644); err != nil {
			return fmt.Errorf("write the report %s: %w", p, err)
		}
		fmt.Fprintf(msgs, "report written to %s\n", p)
	}
	return nil
}
