package httpapi

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"
)

// A SIGTERMed bot (its context cancelled) finishes the requests it is
// serving, with their contexts still live, before it stops: a Slack slash
// command in flight during a rolling restart still gets its answer.
func TestStopDrainsInFlightRequests(t *testing.T) {
	s := New(Options{Addr: "127.0.0.1:0"})
	started := make(chan struct{})
	s.Mux().HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-time.After(700 * time.Millisecond):
		case <-r.Context().Done():
			http.Error(w, "cancelled mid-request: "+context.Cause(r.Context()).Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "answered")
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var addr string
	for range 100 {
		if addr = s.Addr(); addr != "127.0.0.1:0" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	type answer struct {
		code int
		body string
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			got <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- answer{code: resp.StatusCode, body: string(b)}
	}()
	<-started
	cancel() // SIGTERM
	a := <-got
	if a.err != nil || a.code != http.StatusOK || a.body != "answered" {
		t.Fatalf("in-flight request during shutdown: code %d body %q err %v; want 200 \"answered\"", a.code, a.body, a.err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Error("the server still accepts new requests after shutdown")
	}
}
