package faultproxy_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/storage/faultproxy"
)

// upstream answers GET with a fixed body and echoes the Host header and
// request body of a PUT, counting the requests it saw.
func upstream(t *testing.T, body []byte) (*httptest.Server, *int) {
	t.Helper()
	seen := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen++
		switch r.Method {
		case http.MethodPut:
			in, _ := io.ReadAll(r.Body)
			w.Header().Set("X-Seen-Host", r.Host)
			_, _ = w.Write(in)
		default:
			w.Header().Set("X-Seen-Host", r.Host)
			_, _ = w.Write(body)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

func start(t *testing.T, target string, f faultproxy.Faults) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.Start(target, f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// client never reuses connections, so one dropped request cannot spoil the next.
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func TestCleanProxyPassesRequestsThrough(t *testing.T) {
	body := bytes.Repeat([]byte("backup "), 1000)
	srv, seen := upstream(t, body)
	p := start(t, srv.URL, faultproxy.Faults{})

	resp, err := client.Get(p.URL() + "/bucket/key")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, body) {
		t.Fatalf("GET through the proxy returned %d bytes; want the upstream's %d", len(got), len(body))
	}
	if h := resp.Header.Get("X-Seen-Host"); h != strings.TrimPrefix(p.URL(), "http://") {
		t.Errorf("upstream saw Host %q; want the proxy's host as the client sent it (signatures cover it)", h)
	}
	req, _ := http.NewRequest(http.MethodPut, p.URL()+"/bucket/key", strings.NewReader("uploaded"))
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != "uploaded" {
		t.Fatalf("PUT body arrived as %q", got)
	}
	if *seen != 2 || p.Stats().Forwarded != 2 || p.Stats().Injected() != 0 {
		t.Fatalf("upstream saw %d requests, proxy stats %v; want 2 forwarded, none broken", *seen, p.Stats())
	}
}

func TestEachFaultBreaksTheRequestItsOwnWay(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 10_000)
	cases := []struct {
		name         string
		faults       faultproxy.Faults
		wantErr      bool // the client sees a transport error or a short body
		wantStatus   int
		wantUpstream int
	}{
		{"drop", faultproxy.Faults{Drop: 1}, true, 0, 0},
		{"lose response", faultproxy.Faults{LoseResponse: 1}, true, 0, 1},
		{"server error", faultproxy.Faults{Error: 1}, false, 0, 0},
		{"cut body", faultproxy.Faults{CutBody: 1}, true, 200, 1},
		{"slow", faultproxy.Faults{Slow: 1, SlowBytesPerSecond: 4 << 20}, false, 200, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, seen := upstream(t, body)
			p := start(t, srv.URL, c.faults)
			resp, err := client.Get(p.URL() + "/x")
			var got []byte
			if err == nil {
				got, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if c.wantErr != (err != nil) {
				t.Fatalf("client error = %v; want an error: %v", err, c.wantErr)
			}
			if c.name == "server error" && resp.StatusCode != 500 && resp.StatusCode != 503 {
				t.Fatalf("status %d; want 500 or 503", resp.StatusCode)
			}
			if c.wantStatus != 0 && resp.StatusCode != c.wantStatus {
				t.Fatalf("status %d; want %d", resp.StatusCode, c.wantStatus)
			}
			if c.name == "slow" && !bytes.Equal(got, body) {
				t.Fatalf("slowed body arrived as %d different bytes", len(got))
			}
			if *seen != c.wantUpstream {
				t.Errorf("upstream saw %d requests; want %d", *seen, c.wantUpstream)
			}
			if st := p.Stats(); st.Injected() != 1 || st.Requests != 1 {
				t.Errorf("stats %v; want 1 request with 1 fault", st)
			}
		})
	}
}

func TestFaultRatesAreRoughlyKeptAndRepeatable(t *testing.T) {
	srv, _ := upstream(t, []byte("ok"))
	run := func() faultproxy.Stats {
		p := start(t, srv.URL, faultproxy.Faults{Error: 0.3, Seed: 42})
		for range 200 {
			resp, err := client.Get(p.URL() + "/x")
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return p.Stats()
	}
	a, b := run(), run()
	if a.Errors < 40 || a.Errors > 80 {
		t.Errorf("with Error 0.3, %d of 200 requests failed; want about 60", a.Errors)
	}
	if a != b {
		t.Errorf("the same seed gave different faults: %v then %v", a, b)
	}
}
