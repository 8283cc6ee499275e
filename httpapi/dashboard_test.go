package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/compliance"
)

// ?token= on / logs a browser in: an HttpOnly cookie that alone then
// opens the page (and nothing but the right token does).
func TestTokenQuerySetsAnHttpOnlyCookie(t *testing.T) {
	const token = "cookie-login-token"
	h := New(Options{Token: func() string { return token }}).Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/?token="+token, nil))
	cookies := rec.Result().Cookies()
	if rec.Code != http.StatusOK || len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].Value != token {
		t.Fatalf("GET /?token= = %d, cookies %+v; want 200 and one HttpOnly cookie", rec.Code, cookies)
	}
	for _, c := range []struct {
		value string
		want  int
	}{{token, http.StatusOK}, {"wrong", http.StatusUnauthorized}} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.AddCookie(&http.Cookie{Name: cookies[0].Name, Value: c.value})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("GET / with cookie %q = %d, want %d", c.value, rec.Code, c.want)
		}
	}
	// A bad token in the query does not set a cookie.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/?token=wrong", nil))
	if len(rec.Result().Cookies()) != 0 {
		t.Errorf("a wrong token set a cookie: %v", rec.Result().Cookies())
	}
}

// The chart has one circle per size sample, placed left to right in time
// order and higher for more bytes; a stale target is marked in words.
func TestDashboardChartAndStaleTarget(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	d := Dashboard{
		Storages: []StorageUse{{Name: "local", Samples: []compliance.Sample{
			{At: t0, Bytes: 1000}, {At: t0.Add(time.Hour), Bytes: 5000}, {At: t0.Add(3 * time.Hour), Bytes: 3000}}}},
		Compliance: compliance.Report{Targets: []compliance.Target{
			{Name: "db", Stale: true, LastGood: t0, Age: 30 * time.Hour, Coverage: compliance.NotRecent},
			{Name: "web", LastGood: t0, Age: time.Hour, Coverage: compliance.Covered, RPOMet: true, RetentionOK: true}}},
	}
	s := New(Options{Dashboard: func(context.Context) (Dashboard, error) { return d, nil }})
	code, body := get(t, s.Handler(), "/")
	if code != http.StatusOK {
		t.Fatalf("GET / = %d", code)
	}
	circles := regexp.MustCompile(`<circle class="sample" cx="([0-9.]+)" cy="([0-9.]+)"`).FindAllStringSubmatch(body, -1)
	if len(circles) != 3 || !strings.Contains(body, `data-points="3"`) {
		t.Fatalf("chart has %d circles:\n%s", len(circles), body)
	}
	x := func(i int) string { return circles[i][1] }
	y := func(i int) string { return circles[i][2] }
	if x(0) != "10" || x(2) != "470" || x(1) != "163.3" || y(1) != "10" || y(0) != "106" {
		t.Errorf("circles at %v: want x 10, 163.3, 470 (time) and the 5 kB sample at the top", circles)
	}
	if !regexp.MustCompile(`data-target="db">\s*<td><code>db</code></td>\s*<td>[^<]*</td>\s*<td class="age stale">30h <strong>stale</strong>`).MatchString(body) {
		t.Errorf("db is not marked stale in its age cell:\n%s", body)
	}
	if strings.Contains(body, `<td class="age stale">1h`) {
		t.Errorf("web is marked stale")
	}
}
