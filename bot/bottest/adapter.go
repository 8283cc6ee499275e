package bottest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot"
)

// Recorder is a bot.Handler that records what an adapter hands it and
// answers with fixed replies; with Block set a command waits until its
// context ends (then Cancelled is closed).
type Recorder struct {
	// Reply answers every command, Click every button press.
	Reply, Click bot.Reply
	// Block makes HandleCommand wait for its context to end.
	Block bool
	// Cancelled is closed when a blocked command saw its context end.
	Cancelled chan struct{}

	mu       sync.Mutex
	commands []bot.Incoming
	clicks   []bot.Click
}

// NewRecorder returns a Recorder that answers "Queued as job *7f3a*." to
// commands and "Restore confirmed." to clicks, both ephemeral.
func NewRecorder() *Recorder {
	return &Recorder{
		Cancelled: make(chan struct{}),
		Reply:     bot.Reply{Message: bot.Message{Text: "Queued as job *7f3a*."}, Ephemeral: true},
		Click:     bot.Reply{Message: bot.Message{Text: "Restore confirmed."}, Ephemeral: true},
	}
}

// HandleCommand implements bot.Handler.
func (r *Recorder) HandleCommand(ctx context.Context, in bot.Incoming) bot.Reply {
	r.mu.Lock()
	r.commands = append(r.commands, in)
	block := r.Block
	r.mu.Unlock()
	if block {
		<-ctx.Done()
		close(r.Cancelled)
		return bot.Reply{Message: bot.Message{Text: "Nothing was started: too late."}, Ephemeral: true}
	}
	return r.Reply
}

// HandleClick implements bot.Handler.
func (r *Recorder) HandleClick(ctx context.Context, c bot.Click) bot.Reply {
	r.mu.Lock()
	r.clicks = append(r.clicks, c)
	r.mu.Unlock()
	return r.Click
}

// Seen returns the commands and clicks received so far.
func (r *Recorder) Seen() ([]bot.Incoming, []bot.Click) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bot.Incoming(nil), r.commands...), append([]bot.Click(nil), r.clicks...)
}

// Adapter is what Serve needs of a chat adapter.
type Adapter interface {
	Routes(mux *http.ServeMux)
	Close(ctx context.Context) error
}

// Serve serves a's routes over HTTP for the test and closes both (the
// adapter within 10 s) when it ends.
func Serve(t *testing.T, a Adapter) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	a.Routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return srv
}

// Start builds an adapter with newAdapter from opts, changed first by
// tweak when it is set, and serves it (see Serve).
func Start[O any, A Adapter](t *testing.T, newAdapter func(O) (A, error), opts O, tweak func(*O)) (A, *httptest.Server) {
	t.Helper()
	if tweak != nil {
		tweak(&opts)
	}
	a, err := newAdapter(opts)
	if err != nil {
		t.Fatalf("NewAdapter: %v", err)
	}
	return a, Serve(t, a)
}

// Do sends req and returns the status and body.
func Do(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return resp.StatusCode, body
}

// Discard is a logger that writes nothing.
func Discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// WaitCtx is a context that ends after 15 s or with the test.
func WaitCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Post posts msg through s into channel (and thread), failing the test if
// that fails.
func Post(t *testing.T, s bot.Surface, channel, thread string, msg bot.Message) bot.MessageRef {
	t.Helper()
	ref, err := s.Post(WaitCtx(t), channel, thread, msg)
	if err != nil {
		t.Fatalf("posting %q to %s: %v", msg.Text, channel, err)
	}
	return ref
}

// DecodeJSON decodes data into a T, failing the test when data is not
// that JSON; what names data in the failure.
func DecodeJSON[T any](t *testing.T, what string, data []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s is not JSON: %v\n%s", what, err, data)
	}
	return v
}
