// Package chatfake is what the fake chat APIs of the adapters' tests
// (slacktest, discordtest) share: an HTTP server on a loopback port and
// the log of the calls it got, which tests read and wait on.
package chatfake

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
)

// Base is the part of a fake API server its fake embeds. C is the fake's
// call type. Its zero value is not usable; call Start.
type Base[C any] struct {
	// URL is the server's base address (http://127.0.0.1:port).
	URL string

	http  *httptest.Server
	route func(C) string
	ok    func(C) bool

	mu      sync.Mutex
	calls   []C
	changed chan struct{} // closed and replaced on every recorded call
}

// Start serves h on a loopback port. route names a call's method or
// route, ok tells whether the fake answered it with success.
func (b *Base[C]) Start(h http.Handler, route func(C) string, ok func(C) bool) {
	b.route, b.ok = route, ok
	b.changed = make(chan struct{})
	b.http = httptest.NewServer(h)
	b.URL = b.http.URL
}

// Close stops the server.
func (b *Base[C]) Close() {
	b.http.CloseClientConnections()
	b.http.Close()
}

// Record adds a call to the log; the fake's handlers call it once per
// call, after answering it.
func (b *Base[C]) Record(c C) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, c)
	close(b.changed)
	b.changed = make(chan struct{})
}

// Calls returns the recorded calls of the given methods or routes (all
// when none is given), in order, including refused ones.
func (b *Base[C]) Calls(routes ...string) []C {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.filter(routes, false)
}

// Answered returns the recorded calls of the given methods or routes that
// succeeded, in order.
func (b *Base[C]) Answered(routes ...string) []C {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.filter(routes, true)
}

func (b *Base[C]) filter(routes []string, ok bool) []C {
	var out []C
	for _, c := range b.calls {
		if (len(routes) == 0 || slices.Contains(routes, b.route(c))) && (!ok || b.ok(c)) {
			out = append(out, c)
		}
	}
	return out
}

// WaitCalls waits until at least n calls of route succeeded and returns
// them, or fails when ctx ends first.
func (b *Base[C]) WaitCalls(ctx context.Context, route string, n int) ([]C, error) {
	for {
		b.mu.Lock()
		got := b.filter([]string{route}, true)
		changed := b.changed
		b.mu.Unlock()
		if len(got) >= n {
			return got, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return got, fmt.Errorf("waiting for %d calls of %s, saw %d: %w", n, route, len(got), ctx.Err())
		}
	}
}
