package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body)
}

func TestReadyzReportsEachFailingDependency(t *testing.T) {
	redisUp := true
	s := New(Options{Checks: []Check{
		{Name: "redis", Probe: func(context.Context) error {
			if redisUp {
				return nil
			}
			return errors.New("Redis at redis://127.0.0.1:1/0 does not answer: connection refused")
		}},
		{Name: "storage local", Probe: func(context.Context) error { return nil }},
	}})
	code, body := get(t, s.Handler(), "/readyz")
	if code != http.StatusOK {
		t.Fatalf("ready: status %d, body %s", code, body)
	}
	redisUp = false
	code, body = get(t, s.Handler(), "/readyz")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("redis down: status %d, want 503", code)
	}
	var r Readiness
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	if r.Ready || !strings.Contains(r.Checks["redis"], "connection refused") || r.Checks["storage local"] != "ok" {
		t.Fatalf("readiness = %+v", r)
	}
}

func TestHealthzMetricsAndDashboard(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "backupbot_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(3)
	s := New(Options{Gatherer: reg, Dashboard: func(context.Context) (Dashboard, error) {
		return Dashboard{Running: []JobRow{{ID: "8f3a1c2d", Command: "create --type full --target data", Requester: "@alice", State: "active", Progress: "▓▓░░ 50%", Since: time.Now()}}}, nil
	}})
	if code, body := get(t, s.Handler(), "/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("healthz = %d %q", code, body)
	}
	if code, body := get(t, s.Handler(), "/metrics"); code != 200 || !strings.Contains(body, "backupbot_test_total 3") {
		t.Errorf("metrics = %d %s", code, body)
	}
	code, body := get(t, s.Handler(), "/")
	if code != 200 || !strings.Contains(body, "8f3a1c2d") || !strings.Contains(body, "create --type full --target data") || !strings.Contains(body, "ready") {
		t.Errorf("dashboard = %d %s", code, body)
	}
	if code, _ := get(t, s.Handler(), "/nothing-here"); code != http.StatusNotFound {
		t.Errorf("unknown path = %d, want 404", code)
	}
}

func TestRunServesUntilCanceled(t *testing.T) {
	s := New(Options{Addr: "127.0.0.1:0"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var resp *http.Response
	var err error
	for range 100 {
		if addr := s.Addr(); addr != "127.0.0.1:0" {
			resp, err = http.Get("http://" + addr + "/healthz")
			if err == nil {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil || resp == nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
