package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/backupbot/backupbot/httpapi"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/policy/audit"
)

// options are the command line of one backupbot process.
type options struct {
	role          string // serve, worker or bot
	configPath    string
	console       bool
	consoleSocket string
	noStdin       bool
	httpAddr      string
	concurrency   int
	logFormat     string
	logLevel      string
	editInterval  time.Duration
	instance      string
}

// Roles.
const (
	roleServe  = "serve"
	roleWorker = "worker"
	roleBot    = "bot"
)

func (o options) runsWorker() bool { return o.role == roleServe || o.role == roleWorker }
func (o options) runsBot() bool    { return o.role == roleServe || o.role == roleBot }

const usage = `usage: backupbot serve|worker|bot [flags]

  serve   chat adapters, HTTP endpoints, job workers and the scheduler in one process
  worker  job workers only (run several, on several machines, against one Redis)
  bot     chat adapters and HTTP endpoints only

Environment: REDIS_URL (unset: an embedded in-memory Redis), BACKUPBOT_HTTP_ADDR
(default 127.0.0.1:8080), BACKUPBOT_CONFIG, BACKUPBOT_REPO_PASSWORD[_FILE],
SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_APP_TOKEN, SLACK_API_URL,
DISCORD_BOT_TOKEN, DISCORD_PUBLIC_KEY, DISCORD_APP_ID, DISCORD_API_URL.
The console adapter runs when no chat token is set, or with --console.

flags:
`

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		newFlags(&options{}, stderr).PrintDefaults()
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	o := options{role: args[0]}
	switch o.role {
	case roleServe, roleWorker, roleBot:
	default:
		fmt.Fprintf(stderr, "backupbot: unknown command %q\n%s", args[0], usage)
		return 2
	}
	fs := newFlags(&o, stderr)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "backupbot %s: unexpected arguments %q\n", o.role, fs.Args())
		return 2
	}
	if o.httpAddr == "" && o.role != roleWorker {
		o.httpAddr = os.Getenv("BACKUPBOT_HTTP_ADDR")
		if o.httpAddr == "" {
			o.httpAddr = httpapi.DefaultAddr
		}
	}
	if o.configPath == "" {
		o.configPath = os.Getenv("BACKUPBOT_CONFIG")
	}
	consoleTTY := isTerminal(stdin) && isTerminal(stdout)
	logger, err := newLogger(stderr, o.logFormat, o.logLevel, consoleTTY && o.runsBot())
	if err != nil {
		fmt.Fprintf(stderr, "backupbot: %v\n", err)
		return 2
	}
	if err := serve(ctx, o, logger, stdin, stdout, consoleTTY); err != nil {
		logger.Error("backupbot stopped with an error", "role", o.role, "err", err)
		return 1
	}
	return 0
}

func newFlags(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("backupbot "+o.role, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.configPath, "config", "", "configuration `FILE` (else $BACKUPBOT_CONFIG, else ./backupbot.yaml, else embedded defaults)")
	fs.BoolVar(&o.console, "console", false, "run the console adapter even when chat tokens are set")
	fs.StringVar(&o.consoleSocket, "console-socket", "", "also accept console lines on the unix socket `PATH` (every client sees all output)")
	fs.BoolVar(&o.noStdin, "no-stdin", false, "do not read console lines from stdin (use with --console-socket)")
	fs.StringVar(&o.httpAddr, "http-addr", "", "HTTP listen `ADDR` (default $BACKUPBOT_HTTP_ADDR or 127.0.0.1:8080; a worker serves HTTP only when given)")
	fs.IntVar(&o.concurrency, "concurrency", 0, "jobs one worker runs at once (default: number of CPUs)")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "", "log level: debug, info, warn or error (default info; warn while the console is on a terminal)")
	fs.StringVar(&o.instance, "instance", "", "`NAME` of this process for relaying job events, the same across restarts (default $BACKUPBOT_INSTANCE, else host, role and listen addresses)")
	fs.DurationVar(&o.editInterval, "edit-interval", 0, "least time between two edits of a progress message (default 2s)")
	return fs
}

func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}

func newLogger(w io.Writer, format, level string, quiet bool) (*slog.Logger, error) {
	var lv slog.Level
	switch strings.ToLower(level) {
	case "":
		lv = slog.LevelInfo
		if quiet {
			lv = slog.LevelWarn
		}
	case "debug":
		lv = slog.LevelDebug
	case "info":
		lv = slog.LevelInfo
	case "warn", "warning":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	// Secrets from the environment (tokens, the repository password) and
	// anything shaped like a credential never reach the log, even when a
	// user typed one into a command that an error message repeats.
	red := audit.NewRedactor(audit.SecretsFromEnv(policy.AuditConfig{}, os.Getenv))
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		switch a.Value.Kind() {
		case slog.KindString:
			a.Value = slog.StringValue(red.Redact(a.Value.String()))
		case slog.KindAny:
			if err, ok := a.Value.Any().(error); ok {
				a.Value = slog.StringValue(red.Redact(err.Error()))
			}
		}
		return a
	}}
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}
