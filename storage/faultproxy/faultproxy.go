// Package faultproxy is a reverse proxy for tests that sits on loopback
// between a storage client and its server (versitygw, Azurite) and breaks
// a chosen share of the requests the way real networks and cloud services
// do: connections dropped before the request arrives, responses lost after
// the server acted, 500/503 answers, response bodies cut off midway, and
// response bodies trickled at a set rate. The Host header is passed through
// unchanged, so signed requests (S3 SigV4, Azure shared key) still verify.
package faultproxy

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Faults sets how often each fault happens, as fractions of all requests
// (0 to 1; their sum is capped at 1). A request gets at most one fault.
type Faults struct {
	// Drop closes the connection before the request reaches the server.
	Drop float64
	// LoseResponse forwards the request, lets the server act on it, then
	// closes the connection instead of answering.
	LoseResponse float64
	// Error answers 500 or 503 (alternately) without reaching the server.
	Error float64
	// CutBody sends the response headers and half the body, then closes
	// the connection. Responses without a body are passed unharmed.
	CutBody float64
	// Slow trickles the response body at SlowBytesPerSecond.
	Slow float64
	// SlowBytesPerSecond is the trickle rate (default 2 MiB/s).
	SlowBytesPerSecond int
	// Seed makes the sequence of faults repeatable.
	Seed uint64
}

// Everything is a Faults that breaks every request, one way or another.
var Everything = Faults{Drop: 0.25, LoseResponse: 0.25, Error: 0.5}

// Stats counts what the proxy did.
type Stats struct {
	Requests, Forwarded                               int64
	Dropped, LostResponses, Errors, CutBodies, Slowed int64
}

// Injected is the number of requests that got a fault.
func (s Stats) Injected() int64 {
	return s.Dropped + s.LostResponses + s.Errors + s.CutBodies + s.Slowed
}

func (s Stats) String() string {
	return fmt.Sprintf("%d requests: %d forwarded, %d dropped, %d responses lost, %d 5xx, %d bodies cut, %d slowed",
		s.Requests, s.Forwarded, s.Dropped, s.LostResponses, s.Errors, s.CutBodies, s.Slowed)
}

type fault int

const (
	none fault = iota
	drop
	loseResponse
	serverError
	cutBody
	slow
)

// Proxy is a running fault-injecting proxy. Its methods are safe for
// concurrent use.
type Proxy struct {
	target    *url.URL
	srv       *http.Server
	ln        net.Listener
	transport *http.Transport

	mu     sync.Mutex
	faults Faults
	rng    *rand.Rand

	requests, forwarded, dropped, lost, errs, cut, slowed atomic.Int64
}

// Start listens on a free loopback port and forwards to target (for
// example "http://127.0.0.1:17070") with the given faults.
func Start(target string, f Faults) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("fault proxy: target %q is not an http:// address", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fault proxy: listening on loopback: %w", err)
	}
	p := &Proxy{
		target: u,
		ln:     ln,
		transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConnsPerHost: 32,
			IdleConnTimeout:     30 * time.Second,
		},
	}
	p.SetFaults(f)
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// URL is the proxy's address, to use as the client's endpoint.
func (p *Proxy) URL() string { return "http://" + p.ln.Addr().String() }

// SetFaults replaces the fault rates (and restarts the random sequence).
func (p *Proxy) SetFaults(f Faults) {
	if f.SlowBytesPerSecond <= 0 {
		f.SlowBytesPerSecond = 2 << 20
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = f
	p.rng = rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))
}

// Stats returns the counts so far.
func (p *Proxy) Stats() Stats {
	return Stats{
		Requests: p.requests.Load(), Forwarded: p.forwarded.Load(), Dropped: p.dropped.Load(),
		LostResponses: p.lost.Load(), Errors: p.errs.Load(), CutBodies: p.cut.Load(), Slowed: p.slowed.Load(),
	}
}

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() error {
	err := p.srv.Close()
	p.transport.CloseIdleConnections()
	return err
}

// pick draws the fault for one request.
func (p *Proxy) pick() (fault, int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.faults
	x := p.rng.Float64()
	alt := p.rng.IntN(2) == 0
	for _, c := range []struct {
		rate float64
		kind fault
	}{{f.Drop, drop}, {f.LoseResponse, loseResponse}, {f.Error, serverError}, {f.CutBody, cutBody}, {f.Slow, slow}} {
		if x < c.rate {
			return c.kind, f.SlowBytesPerSecond, alt
		}
		x -= c.rate
	}
	return none, f.SlowBytesPerSecond, alt
}

// hopHeaders are per-connection headers a proxy must not pass on.
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	kind, rate, alt := p.pick()
	switch kind {
	case drop:
		p.dropped.Add(1)
		panic(http.ErrAbortHandler) // the server closes the connection, unanswered
	case serverError:
		p.errs.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		status, code := http.StatusServiceUnavailable, "ServerBusy"
		if alt {
			status, code = http.StatusInternalServerError, "InternalError"
		}
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("x-ms-error-code", code)
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>injected by faultproxy</Message></Error>", code)
		return
	}

	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Scheme = p.target.Scheme
	out.URL.Host = p.target.Host
	out.Host = r.Host // signed requests cover the Host header
	if r.ContentLength == 0 {
		out.Body = nil
	}
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		http.Error(w, "fault proxy: upstream: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	p.forwarded.Add(1)
	if kind == loseResponse {
		p.lost.Add(1)
		_, _ = io.Copy(io.Discard, resp.Body)
		panic(http.ErrAbortHandler)
	}
	if (kind == cutBody || kind == slow) && (resp.ContentLength == 0 || r.Method == http.MethodHead) {
		kind = none // nothing to cut or slow
	}
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	for _, h := range hopHeaders {
		w.Header().Del(h)
	}
	w.WriteHeader(resp.StatusCode)
	switch kind {
	case cutBody:
		p.cut.Add(1)
		half := resp.ContentLength / 2 // 0 for a body of one byte or unknown length
		_, _ = io.CopyN(w, resp.Body, half)
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		panic(http.ErrAbortHandler)
	case slow:
		p.slowed.Add(1)
		trickle(w, resp.Body, rate)
	default:
		_, _ = io.Copy(w, resp.Body)
	}
}

// trickle copies src to w at about rate bytes per second.
func trickle(w http.ResponseWriter, src io.Reader, rate int) {
	chunk := max(rate/50, 512) // about 50 writes a second
	buf := make([]byte, chunk)
	fl, _ := w.(http.Flusher)
	start := time.Now()
	sent := 0
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if fl != nil {
				fl.Flush()
			}
			sent += n
			due := start.Add(time.Duration(float64(sent) / float64(rate) * float64(time.Second)))
			time.Sleep(time.Until(due))
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				panic(http.ErrAbortHandler)
			}
			return
		}
	}
}
