// Package console is the chat adapter for a terminal: it reads /backup
// commands and button clicks as lines from stdin (and, optionally, from a
// local unix socket so tests and other terminals can drive it) as one
// configured user, and prints replies, thread posts and edits. On a
// terminal an edit rewrites the message in place; anywhere else it prints
// an `[edit msg-N] ...` line, so transcripts read top to bottom.
package console

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/backupbot/backupbot/bot"
)

// DefaultChannel is the one channel a console has.
const DefaultChannel = "console"

// handleTimeout bounds one HandleCommand/HandleClick call.
const handleTimeout = 30 * time.Second

// Options configure a Console.
type Options struct {
	// User is who every typed line comes from. Its Platform is forced to
	// bot.Console; an empty UserID becomes the OS user.
	User bot.Identity
	// Channel names the console's channel (default "console").
	Channel string
	// Out is where the console prints (usually os.Stdout).
	Out io.Writer
	// TTY says Out is a terminal: edits are drawn in place with ANSI
	// escapes instead of printed as `[edit ...]` lines.
	TTY bool
	// Width is the terminal width used to count wrapped lines (default 80).
	Width int
	// EchoInput prints each line read from Out's own input (stdin) before
	// its reply; set it when stdin is not a terminal, so transcripts show
	// what was typed. Lines from the socket are always echoed.
	EchoInput bool
	Logger    *slog.Logger
}

// Console is the terminal adapter. It implements bot.Surface; Run and
// ServeSocket feed what is typed to a bot.Handler.
type Console struct {
	user    bot.Identity
	channel string
	logger  *slog.Logger

	mu      sync.Mutex
	out     io.Writer
	tty     bool
	width   int
	echo    bool
	lines   int // lines printed on the terminal so far (TTY only)
	nextID  int
	msgs    map[string]*printed
	buttons map[string]bool // "action value" of every button shown
	sinks   map[*sink]struct{}
}

// printed remembers where a message sits on the terminal.
type printed struct {
	thread string
	label  string
	start  int // terminal line where it starts (TTY only)
	height int // how many terminal lines it took
}

// sink is a socket client that receives everything the console prints.
type sink struct {
	conn net.Conn
	w    *bufio.Writer
}

// New returns a Console printing to o.Out.
func New(o Options) *Console {
	user := o.User
	user.Platform = bot.Console
	if user.UserID == "" {
		user.UserID = osUser()
	}
	if user.UserName == "" {
		user.UserName = user.UserID
	}
	channel := o.Channel
	if channel == "" {
		channel = DefaultChannel
	}
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	width := o.Width
	if width <= 0 {
		width = 80
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Console{
		user: user, channel: channel, logger: logger,
		out: out, tty: o.TTY, width: width, echo: o.EchoInput,
		msgs: map[string]*printed{}, buttons: map[string]bool{}, sinks: map[*sink]struct{}{},
	}
}

// User is the identity typed lines are sent as.
func (c *Console) User() bot.Identity { return c.user }

// Channel is the console's channel name.
func (c *Console) Channel() string { return c.channel }

func osUser() string {
	for _, k := range []string{"USER", "LOGNAME", "USERNAME"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return "console"
}

// Run reads lines from in and hands each to h until in ends or ctx is
// done. It returns nil at the end of input.
func (c *Console) Run(ctx context.Context, h bot.Handler, in io.Reader) error {
	lines := make(chan string)
	errc := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		errc <- sc.Err()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if err != nil {
				return fmt.Errorf("console: reading input: %w", err)
			}
			return nil
		case line := <-lines:
			c.mu.Lock()
			if c.tty {
				c.lines++ // the terminal echoed what was typed
			}
			c.mu.Unlock()
			c.handleLine(ctx, h, line, c.echo)
		}
	}
}

// ServeSocket listens on a unix socket at path. Every connection may send
// lines exactly as typed on the console, and receives everything the
// console prints from then on (in the plain, non-ANSI form). It returns
// when ctx is done, removing the socket file.
func (c *Console) ServeSocket(ctx context.Context, h bot.Handler, path string) error {
	if err := removeStaleSocket(path); err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "unix", path)
	if err != nil {
		return fmt.Errorf("console: listening on socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("console: restricting socket %s to its owner: %w", path, err)
	}
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	defer os.Remove(path)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("console: accepting on socket %s: %w", path, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.serveConn(ctx, h, conn)
		}()
	}
}

func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("console: checking socket path %s: %w", path, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("console: %s exists and is not a socket; choose another --console-socket path", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("console: removing stale socket %s: %w", path, err)
	}
	return nil
}

func (c *Console) serveConn(ctx context.Context, h bot.Handler, conn net.Conn) {
	s := &sink{conn: conn, w: bufio.NewWriter(conn)}
	c.mu.Lock()
	c.sinks[s] = struct{}{}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.sinks, s)
		c.mu.Unlock()
		conn.Close()
	}()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		c.handleLine(ctx, h, sc.Text(), true)
	}
}

// handleLine turns one typed line into a click or a command.
func (c *Console) handleLine(ctx context.Context, h bot.Handler, line string, echo bool) {
	line = strings.TrimSpace(line)
	if line == "" {
		return
	}
	if echo {
		c.emit(c.user.UserID+"> "+line, "")
	}
	ctx, cancel := context.WithTimeout(ctx, handleTimeout)
	defer cancel()
	if action, value, ok := c.parseClick(line); ok {
		reply := h.HandleClick(ctx, bot.Click{
			From:     c.user,
			Message:  bot.MessageRef{Channel: c.channel},
			ActionID: action,
			Value:    value,
		})
		c.printReply(reply)
		return
	}
	reply := h.HandleCommand(ctx, bot.Incoming{From: c.user, Channel: c.channel, Text: line})
	c.printReply(reply)
}

// clickVerbs are the button actions that can be typed bare ("approve ID").
var clickVerbs = map[string]bool{"approve": true, "deny": true, "confirm": true, "cancel": true, "retry": true}

// parseClick recognises `click ACTION VALUE` always, and `ACTION VALUE`
// when that button was shown on this console. A bare `cancel JOB` that no
// button offered stays the /backup cancel command.
func (c *Console) parseClick(line string) (action, value string, ok bool) {
	f := strings.Fields(line)
	if len(f) == 3 && f[0] == "click" {
		return f[1], f[2], true
	}
	if len(f) != 2 || !clickVerbs[f[0]] {
		return "", "", false
	}
	c.mu.Lock()
	shown := c.buttons[f[0]+" "+f[1]]
	c.mu.Unlock()
	if shown || f[0] != "cancel" {
		return f[0], f[1], true
	}
	return "", "", false
}

func (c *Console) printReply(r bot.Reply) {
	if r.Message.Text == "" && len(r.Message.Fields) == 0 && len(r.Message.Buttons) == 0 {
		return
	}
	c.emit(c.format("[reply]", "", r.Message), "")
}

// Post prints msg as a new message and returns its reference.
func (c *Console) Post(_ context.Context, channel, thread string, msg bot.Message) (bot.MessageRef, error) {
	c.mu.Lock()
	c.nextID++
	id := fmt.Sprintf("msg-%d", c.nextID)
	c.mu.Unlock()
	label := "[" + id + "]"
	if thread != "" {
		label = "[" + id + " in " + thread + "]"
	}
	c.emit(c.format(label, thread, msg), id)
	c.mu.Lock()
	if p := c.msgs[id]; p != nil {
		p.thread, p.label = thread, label
	}
	c.mu.Unlock()
	if channel == "" {
		channel = c.channel
	}
	return bot.MessageRef{Channel: channel, ID: id, Thread: thread}, nil
}

// Ephemeral prints msg marked as shown to one user only.
func (c *Console) Ephemeral(_ context.Context, _, thread, _ string, msg bot.Message) error {
	label := "[only you]"
	if thread != "" {
		label = "[only you, in " + thread + "]"
	}
	c.emit(c.format(label, thread, msg), "")
	return nil
}

// Edit replaces a posted message: in place on a terminal when it is still
// on screen and keeps its height, else as an `[edit msg-N]` line.
func (c *Console) Edit(_ context.Context, ref bot.MessageRef, msg bot.Message) error {
	c.mu.Lock()
	p, ok := c.msgs[ref.ID]
	var pc printed
	if ok {
		pc = *p
	}
	c.mu.Unlock()
	p = &pc
	if !ok {
		return fmt.Errorf("console: no message %q to edit (it was posted before this console started)", ref.ID)
	}
	label := "[edit " + ref.ID + "]"
	text := c.format(label, p.thread, msg)
	if c.tty && c.redraw(ref.ID, c.format(p.label, p.thread, msg)) {
		c.emitSinks(text)
		return nil
	}
	c.emit(text, "")
	return nil
}

// Attach prints a file's name, size and first lines.
func (c *Console) Attach(_ context.Context, _, thread, filename string, data []byte, comment string) error {
	var b strings.Builder
	label := "[file " + filename + "]"
	if thread != "" {
		label = "[file " + filename + " in " + thread + "]"
	}
	fmt.Fprintf(&b, "%s %d bytes", label, len(data))
	if comment != "" {
		b.WriteString(" · " + comment)
	}
	body := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	const maxLines = 40
	for i, l := range body {
		if i == maxLines {
			fmt.Fprintf(&b, "\n    … %d more lines", len(body)-maxLines)
			break
		}
		b.WriteString("\n    " + l)
	}
	c.emit(indent(b.String(), thread), "")
	return nil
}

// format renders a message as text lines under a label.
func (c *Console) format(label, thread string, msg bot.Message) string {
	var b strings.Builder
	textLines := strings.Split(strings.TrimRight(msg.Text, "\n"), "\n")
	b.WriteString(label + " " + textLines[0])
	pad := strings.Repeat(" ", len([]rune(label))+1)
	for _, l := range textLines[1:] {
		b.WriteString("\n" + pad + l)
	}
	for _, f := range msg.Fields {
		valuePad := pad + strings.Repeat(" ", len([]rune(f.Label))+2)
		b.WriteString("\n" + pad + f.Label + ": " + strings.ReplaceAll(strings.TrimRight(f.Value, "\n"), "\n", "\n"+valuePad))
	}
	if len(msg.Buttons) > 0 {
		names := make([]string, 0, len(msg.Buttons))
		for _, btn := range msg.Buttons {
			names = append(names, "["+btn.ActionID+" "+btn.Value+"]")
			c.mu.Lock()
			c.buttons[btn.ActionID+" "+btn.Value] = true
			c.mu.Unlock()
		}
		b.WriteString("\n" + pad + "buttons: " + strings.Join(names, " ") + "  (type one to click it)")
	}
	return indent(b.String(), thread)
}

// indent shifts a thread's messages right so threads read as such.
func indent(s, thread string) string {
	if thread == "" {
		return s
	}
	return "  ↳ " + strings.ReplaceAll(s, "\n", "\n    ")
}

// emit prints text (one or more lines) to the terminal and every socket
// client; id, when set, records where the message sits for later edits.
func (c *Console) emit(text, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintln(c.out, text)
	if id != "" {
		c.msgs[id] = &printed{start: c.lines, height: c.height(text)}
	}
	if c.tty {
		c.lines += c.height(text)
	}
	c.writeSinks(text)
}

func (c *Console) emitSinks(text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeSinks(text)
}

func (c *Console) writeSinks(text string) {
	for s := range c.sinks {
		_ = s.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, err := s.w.WriteString(text + "\n")
		if err == nil {
			err = s.w.Flush()
		}
		if err != nil {
			c.logger.Warn("console: dropping a socket client that stopped reading", "err", err)
			delete(c.sinks, s)
			s.conn.Close()
		}
	}
}

// height is how many terminal lines text takes once wrapped.
func (c *Console) height(text string) int {
	n := 0
	for _, l := range strings.Split(text, "\n") {
		w := len([]rune(l))
		n += 1 + max(0, (w-1)/c.width)
	}
	return n
}

// redraw rewrites message id in place with ANSI escapes. It reports false
// (and draws nothing) when the message scrolled off screen or its height
// changed, so the caller prints an edit line instead.
func (c *Console) redraw(id, text string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.msgs[id]
	if !ok || c.height(text) != p.height {
		return false
	}
	up := c.lines - p.start
	const screen = 40
	if up <= 0 || up > screen {
		return false
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\x1b7\x1b[%dA\r", up)
	for i, l := range strings.Split(text, "\n") {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString("\x1b[2K" + l)
	}
	b.WriteString("\x1b8")
	fmt.Fprint(c.out, b.String())
	return true
}
