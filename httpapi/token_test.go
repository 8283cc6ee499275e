package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// With a token configured, /, /readyz and /metrics answer 401 without it
// and serve with it (Bearer header or ?token=); /healthz stays open.
func TestTokenGuardsEverythingButHealthz(t *testing.T) {
	const token = "s3cr3t-dashboard-token"
	s := New(Options{Token: func() string { return token }, Dashboard: func(context.Context) (Dashboard, error) {
		return Dashboard{Running: []JobRow{{ID: "8f3a1c2d", Command: "create --target data", Requester: "@alice"}}}, nil
	}})
	h := s.Handler()
	if code, _ := get(t, h, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz without a token = %d, want 200", code)
	}
	for _, path := range []string{"/", "/readyz", "/metrics"} {
		code, body := get(t, h, path)
		if code != http.StatusUnauthorized || strings.Contains(body, "8f3a1c2d") {
			t.Errorf("%s without a token = %d %q, want 401 and nothing shown", path, code, body)
		}
		if code, _ := get(t, h, path+"?token=wrong"); code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong token = %d, want 401", path, code)
		}
		if code, _ := get(t, h, path+"?token="+token); code != http.StatusOK {
			t.Errorf("%s?token= = %d, want 200", path, code)
		}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Errorf("%s with Authorization: Bearer = %d, want 200", path, rec.Code)
		}
	}
}

// Warnings do not make the service unready; config versions are listed.
func TestReadyzWarningsAndVersions(t *testing.T) {
	s := New(Options{
		Checks:   []Check{{Name: "redis", Probe: func(context.Context) error { return nil }}},
		Warnings: []Check{{Name: "redis persistence", Probe: func(context.Context) error { return errors.New("Redis has no persistence") }}},
		Versions: func(context.Context) (map[string]string, error) {
			return map[string]string{"host-bot:1": "3f2a9c01b7de (bot)", "host-worker:2": "3f2a9c01b7de (worker)"}, nil
		},
	})
	code, body := get(t, s.Handler(), "/readyz")
	var r Readiness
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	if code != http.StatusOK || !r.Ready || !strings.Contains(r.Warnings["redis persistence"], "no persistence") || len(r.ConfigVersions) != 2 {
		t.Errorf("/readyz = %d %s", code, body)
	}
}
