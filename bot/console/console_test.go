package console

import (
	"bufio"
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/console/consoletest"
)

// recorder is a bot.Handler that remembers what reached it.
type recorder struct {
	mu       sync.Mutex
	commands []bot.Incoming
	clicks   []bot.Click
}

func (r *recorder) HandleCommand(_ context.Context, in bot.Incoming) bot.Reply {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.commands = append(r.commands, in)
	return bot.Reply{Message: bot.Message{Text: "got " + in.Text}, Ephemeral: true}
}

func (r *recorder) HandleClick(_ context.Context, c bot.Click) bot.Reply {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clicks = append(r.clicks, c)
	return bot.Reply{Message: bot.Message{Text: "clicked " + c.ActionID + " " + c.Value}}
}

// newConsole is a console with options o (alice's unless o names a user)
// printing to a fresh buffer.
func newConsole(o Options) (*Console, *consoletest.Buffer) {
	out := &consoletest.Buffer{}
	o.Out = out
	if o.User.UserID == "" {
		o.User.UserID = "alice"
	}
	return New(o), out
}

func TestTypedLinesBecomeCommandsAndClicks(t *testing.T) {
	c, out := newConsole(Options{User: bot.Identity{UserID: "alice", Groups: []string{"ops"}}})
	h := &recorder{}
	input := strings.Join([]string{
		"/backup create --type full --target data",
		"",
		"approve a1b2c3d4",
		"click retry 0badf00d",
		"cancel 12345678", // no Cancel button was shown: the /backup cancel command
	}, "\n")
	if err := c.Run(context.Background(), h, strings.NewReader(input)); err != nil {
		t.Fatal(err)
	}
	if len(h.commands) != 2 || h.commands[0].Text != "/backup create --type full --target data" || h.commands[1].Text != "cancel 12345678" {
		t.Fatalf("commands = %+v", h.commands)
	}
	in := h.commands[0]
	if in.From.Platform != bot.Console || in.From.UserID != "alice" || in.From.Groups[0] != "ops" || in.Channel != DefaultChannel {
		t.Errorf("incoming = %+v", in)
	}
	if len(h.clicks) != 2 || h.clicks[0].ActionID != "approve" || h.clicks[0].Value != "a1b2c3d4" || h.clicks[1].ActionID != "retry" {
		t.Fatalf("clicks = %+v", h.clicks)
	}
	if !strings.Contains(out.String(), "[reply] got /backup create --type full --target data") {
		t.Errorf("reply not printed:\n%s", out)
	}
}

func TestCancelIsAClickOnceItsButtonWasShown(t *testing.T) {
	c, out := newConsole(Options{})
	ctx := context.Background()
	if _, err := c.Post(ctx, "", "msg-0", bot.Message{Text: "plan", Buttons: []bot.Button{
		{ActionID: "confirm", Label: "Confirm", Value: "feedbeef"}, {ActionID: "cancel", Label: "Cancel", Value: "feedbeef"},
	}}); err != nil {
		t.Fatal(err)
	}
	h := &recorder{}
	if err := c.Run(ctx, h, strings.NewReader("cancel feedbeef\n")); err != nil {
		t.Fatal(err)
	}
	if len(h.clicks) != 1 || h.clicks[0].ActionID != "cancel" || len(h.commands) != 0 {
		t.Fatalf("clicks %+v commands %+v", h.clicks, h.commands)
	}
	if !strings.Contains(out.String(), "buttons: [confirm feedbeef] [cancel feedbeef]") {
		t.Errorf("buttons not shown:\n%s", out)
	}
}

func TestThreadsAndEditsInPlainOutput(t *testing.T) {
	c, out := newConsole(Options{})
	ctx := context.Background()
	parent, _ := c.Post(ctx, "console", "", bot.Message{Text: "🗄 backup create — job 1"})
	prog, _ := c.Post(ctx, "console", parent.ID, bot.Message{Text: "queued"})
	if err := c.Edit(ctx, prog, bot.Message{Text: "▓▓░░ 50%"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Post(ctx, "console", parent.ID, bot.Message{Text: "done", Fields: []bot.Field{{Label: "Files", Value: "3"}}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Attach(ctx, "console", parent.ID, "report.txt", []byte("line 1\nline 2\n"), "full report"); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"[msg-1] 🗄 backup create — job 1",
		"  ↳ [msg-2 in msg-1] queued",
		"  ↳ [edit msg-2] ▓▓░░ 50%",
		"  ↳ [msg-3 in msg-1] done",
		"                     Files: 3",
		"  ↳ [file report.txt in msg-1] 14 bytes · full report",
		"        line 1",
		"        line 2",
	}, "\n") + "\n"
	if got := out.String(); got != want {
		t.Fatalf("output:\n%s\nwant:\n%s", got, want)
	}
	if err := c.Edit(ctx, bot.MessageRef{ID: "msg-99"}, bot.Message{Text: "x"}); err == nil {
		t.Error("editing an unknown message should fail")
	}
}

func TestTerminalEditsRewriteInPlace(t *testing.T) {
	c, out := newConsole(Options{TTY: true})
	ctx := context.Background()
	prog, _ := c.Post(ctx, "console", "", bot.Message{Text: "░░░░ 0%"})
	c.Post(ctx, "console", "", bot.Message{Text: "another message"})
	if err := c.Edit(ctx, prog, bot.Message{Text: "▓▓░░ 50%"}); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if strings.Contains(got, "[edit") {
		t.Fatalf("a terminal edit printed an edit line:\n%q", got)
	}
	if !strings.Contains(got, "\x1b[2A") || !strings.Contains(got, "\x1b[2K[msg-1] ▓▓░░ 50%") {
		t.Fatalf("no in-place rewrite two lines up:\n%q", got)
	}
	// A thread message keeps its label and indentation when redrawn.
	inThread, _ := c.Post(ctx, "console", "msg-1", bot.Message{Text: "queued"})
	if err := c.Edit(ctx, inThread, bot.Message{Text: "done"}); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, "\x1b[2K  ↳ [msg-3 in msg-1] done") {
		t.Fatalf("no in-place rewrite two lines up:\n%q", got)
	}
	// A change of height cannot be drawn in place: it becomes an edit line.
	if err := c.Edit(ctx, prog, bot.Message{Text: "two\nlines"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "[edit msg-1] two") {
		t.Fatalf("height change not printed as an edit line:\n%q", out.String())
	}
}

func TestSocketClientsDriveTheConsoleAndSeeEverything(t *testing.T) {
	c, _ := newConsole(Options{})
	h := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path := filepath.Join(t.TempDir(), "console.sock")
	done := make(chan error, 1)
	go func() { done <- c.ServeSocket(ctx, h, path) }()

	var conn net.Conn
	var err error
	for range 100 {
		if conn, err = net.Dial("unix", path); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("dial console socket: %v", err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	if _, err := conn.Write([]byte("/backup list\n")); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var lines []string
	for len(lines) < 2 {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read from socket after %q: %v", lines, err)
		}
		lines = append(lines, strings.TrimRight(l, "\n"))
	}
	if lines[0] != "alice> /backup list" || lines[1] != "[reply] got /backup list" {
		t.Fatalf("socket lines = %q", lines)
	}
	// Posts made later reach the socket client too.
	c.Post(ctx, "console", "", bot.Message{Text: "hello"})
	l, err := r.ReadString('\n')
	if err != nil || l != "[msg-1] hello\n" {
		t.Fatalf("post on socket = %q, %v", l, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ServeSocket: %v", err)
	}
}
