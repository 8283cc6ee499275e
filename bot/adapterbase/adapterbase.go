// Package adapterbase is what the Slack and Discord adapters share: the
// handler that may be set after construction, the background work Close
// waits for, the acknowledgement deadline a handler's answer must meet, the
// size-limited reading and logged rejection of incoming requests, and the
// defaults of their common options.
package adapterbase

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/editqueue"
)

// DefaultHTTPTimeout bounds each API call of an adapter's default client.
const DefaultHTTPTimeout = 30 * time.Second

// Default sets *v to def when *v is zero or negative (an unset option).
func Default[T ~int | ~int64](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// HTTPClient is the client for an adapter's API calls: hc, or one with a
// DefaultHTTPTimeout when hc is nil. When errs is set, a copy of it (the
// caller's client is left alone) counts platform's failed calls in errs,
// and wrap, when set, wraps that counting transport.
func HTTPClient(hc *http.Client, errs *bot.ChatAPIErrors, platform bot.Platform, wrap func(counted http.RoundTripper) http.RoundTripper) *http.Client {
	if hc == nil {
		hc = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if errs == nil {
		return hc
	}
	c := *hc
	c.Transport = errs.Transport(platform, c.Transport)
	if wrap != nil {
		c.Transport = wrap(c.Transport)
	}
	return &c
}

// Base holds an adapter's handler and its background work.
type Base struct {
	handler    atomic.Pointer[handlerBox]
	background sync.WaitGroup
}

type handlerBox struct{ h bot.Handler }

// SetHandler sets (or replaces) the handler commands and clicks go to.
func (b *Base) SetHandler(h bot.Handler) { b.handler.Store(&handlerBox{h: h}) }

// Handler is the current handler, nil until one is set.
func (b *Base) Handler() bot.Handler {
	if box := b.handler.Load(); box != nil {
		return box.h
	}
	return nil
}

// Go runs f in the background; Close waits for it.
func (b *Base) Go(f func()) {
	b.background.Add(1)
	go func() {
		defer b.background.Done()
		f()
	}()
}

// Close waits, until ctx ends, for the work started with Go and the edits
// still pending in edits, so the last state of every message lands. name
// ("slack") starts the error.
func (b *Base) Close(ctx context.Context, name string, edits *editqueue.Queue) error {
	done := make(chan struct{})
	go func() {
		b.background.Wait()
		edits.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: closing with messages still being sent: %w", name, ctx.Err())
	}
}

// Answer runs handle with a context that ends after timeout and returns
// its reply when it comes within timeout. When it does not, Answer returns
// late instead, on which the reply arrives once handle returns.
func Answer(ctx context.Context, timeout time.Duration, handle func(context.Context) bot.Reply) (rep bot.Reply, late <-chan bot.Reply) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	hctx, cancel := context.WithTimeout(ctx, timeout)
	replies := make(chan bot.Reply, 1)
	go func() {
		defer cancel()
		replies <- handle(hctx)
	}()
	select {
	case rep := <-replies:
		return rep, nil
	case <-deadline.C:
		return bot.Reply{}, replies
	}
}

// Gate turns away incoming requests that fail an adapter's checks.
type Gate struct {
	// Name starts the log line ("slack").
	Name string
	Log  *slog.Logger
	// MaxBodyBytes limits the size of a request body.
	MaxBodyBytes int64
}

// Body reads r's body, at most MaxBodyBytes of it. When that fails it
// rejects the request (413 for a body over the limit, else 400) and
// returns false.
func (g Gate) Body(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.MaxBodyBytes))
	if err == nil {
		return body, true
	}
	if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
		g.Reject(w, r, http.StatusRequestEntityTooLarge, "body larger than the limit", err)
	} else {
		g.Reject(w, r, http.StatusBadRequest, "body unreadable", err)
	}
	return nil, false
}

// Reject answers a request that failed verification. The log line says why
// (and err, when not nil) without echoing the headers (a signature could
// be replayed).
func (g Gate) Reject(w http.ResponseWriter, r *http.Request, status int, why string, err error) {
	attrs := []any{slog.String("path", r.URL.Path), slog.String("remote", r.RemoteAddr), slog.Int("status", status), slog.String("reason", why)}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	g.Log.Warn(g.Name+": rejected request", attrs...)
	http.Error(w, http.StatusText(status), status)
}
