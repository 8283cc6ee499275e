// Package httpapi is backupbot's HTTP face: liveness (/healthz), readiness
// (/readyz: Redis and storages reachable, warnings such as a Redis without
// persistence, the configuration version of every process), Prometheus
// metrics (/metrics), the backup dashboard (/), and the mux on which the
// chat adapters mount their webhook endpoints (/slack/..., /discord/...).
// With a token configured, /, /readyz and /metrics need it (Authorization:
// Bearer TOKEN, or ?token=TOKEN, which on / also sets an HttpOnly cookie
// for the page's refreshes); /healthz and the chat endpoints never do.
package httpapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultAddr is where the service listens when BACKUPBOT_HTTP_ADDR is unset.
const DefaultAddr = "127.0.0.1:8080"

// probeTimeout bounds every readiness probe.
const probeTimeout = 2 * time.Second

// Check is one readiness probe ("redis", "storage local"); Probe returns
// nil when the dependency answers, else an error saying what is wrong.
type Check struct {
	Name  string
	Probe func(ctx context.Context) error
}

// Options configure a Server.
type Options struct {
	// Addr is the listen address (default DefaultAddr).
	Addr string
	// Checks are the readiness probes /readyz runs, all of them every time.
	Checks []Check
	// MoreChecks, when set, adds probes read at each request (the
	// storages of the configuration in force, which a reload changes).
	MoreChecks func() []Check
	// Gatherer provides /metrics; nil serves an empty set.
	Gatherer prometheus.Gatherer
	// Dashboard provides what / shows; nil shows an empty dashboard.
	Dashboard func(ctx context.Context) (Dashboard, error)
	// Warnings are probes /readyz reports without becoming unready (a
	// Redis without persistence works, but loses jobs when it restarts).
	Warnings []Check
	// Versions, when set, says which configuration version (hash) each
	// process runs, for /readyz.
	Versions func(ctx context.Context) (map[string]string, error)
	// Token, when set, returns the token /, /readyz and /metrics require
	// ("" means none is required). Read at each request, so a reloaded
	// token file applies at once.
	Token func() string
	// Limits bound slow, idle and piled-up connections (zero: defaults).
	Limits Limits
	Logger *slog.Logger
}

// Server serves the HTTP endpoints.
type Server struct {
	addr     string
	mux      *http.ServeMux
	checks   []Check
	more     func() []Check
	warnings []Check
	versions func(ctx context.Context) (map[string]string, error)
	token    func() string
	dash     func(ctx context.Context) (Dashboard, error)
	logger   *slog.Logger
	limits   Limits

	mu       sync.Mutex
	listener net.Listener
	conns    *connLimiter
}

// New builds a Server with its routes mounted; adapters add theirs on Mux.
func New(o Options) *Server {
	s := &Server{addr: o.Addr, mux: http.NewServeMux(), checks: o.Checks, more: o.MoreChecks, warnings: o.Warnings, versions: o.Versions,
		token: o.Token, dash: o.Dashboard, logger: o.Logger, limits: o.Limits.withDefaults()}
	if s.addr == "" {
		s.addr = DefaultAddr
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	g := o.Gatherer
	if g == nil {
		g = prometheus.NewRegistry()
	}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.Handle("GET /readyz", s.guard(http.HandlerFunc(s.readyz)))
	s.mux.Handle("GET /metrics", s.guard(promhttp.HandlerFor(g, promhttp.HandlerOpts{})))
	s.mux.Handle("GET /{$}", s.guard(http.HandlerFunc(s.dashboard)))
	return s
}

// Mux is the router adapters mount their endpoints on.
func (s *Server) Mux() *http.ServeMux { return s.mux }

// Handler is the whole HTTP surface.
func (s *Server) Handler() http.Handler { return s.mux }

// Addr is the address the server listens on once Run has started
// listening (useful with port 0), else the configured address.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener != nil {
		return s.listener.Addr().String()
	}
	return s.addr
}

// OpenConns is the number of client connections open now (0 before Run).
func (s *Server) OpenConns() int {
	s.mu.Lock()
	c := s.conns
	s.mu.Unlock()
	if c == nil {
		return 0
	}
	return c.Open()
}

// Run listens and serves until ctx is done, then shuts down gracefully,
// giving in-flight requests up to five seconds.
func (s *Server) Run(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("http: listening on %s (set BACKUPBOT_HTTP_ADDR to another address if it is taken): %w", s.addr, err)
	}
	limited := limitConns(ln, s.limits, s.logger)
	s.mu.Lock()
	s.listener, s.conns = ln, limited
	s.mu.Unlock()
	srv := s.limits.server(s.mux)
	// Requests outlive ctx: on shutdown, in-flight ones (a slash command
	// being enqueued) finish with a live context; Shutdown bounds them.
	srv.BaseContext = func(net.Listener) context.Context { return context.WithoutCancel(ctx) }
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(limited) }()
	s.logger.Info("http: listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("http: serving on %s: %w", s.addr, err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("http: shutting down: %w", err)
	}
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// tokenCookie holds the token a browser logged in with (?token= on /).
const tokenCookie = "backupbot_token"

// guard lets a request through when no token is configured or when it
// carries the token (Authorization: Bearer TOKEN, ?token=TOKEN, or the
// cookie ?token= on / sets); otherwise it answers 401.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		want := ""
		if s.token != nil {
			want = s.token()
		}
		if want == "" {
			next.ServeHTTP(w, r)
			return
		}
		query := r.URL.Query().Get("token")
		got := query
		if c, err := r.Cookie(tokenCookie); err == nil && got == "" {
			got = c.Value
		}
		if h := r.Header.Get("Authorization"); h != "" {
			if v, ok := strings.CutPrefix(h, "Bearer "); ok {
				got = strings.TrimSpace(v)
			}
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="backupbot"`)
			http.Error(w, "401 unauthorized: this endpoint needs the token from http.token_file (Authorization: Bearer TOKEN, or ?token=TOKEN)", http.StatusUnauthorized)
			return
		}
		if query != "" && r.URL.Path == "/" {
			// A browser logging in: keep the token in an HttpOnly cookie,
			// so the page's refreshes and links need no token in the URL.
			http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: query, Path: "/", HttpOnly: true,
				SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
		}
		next.ServeHTTP(w, r)
	})
}

// Readiness is the /readyz body.
type Readiness struct {
	Ready  bool              `json:"ready"`
	Checks map[string]string `json:"checks"`
	// Warnings are problems that do not stop the service (a Redis
	// without persistence); absent when there are none.
	Warnings map[string]string `json:"warnings,omitempty"`
	// ConfigVersions maps each running process (by instance name) to the
	// version (hash) of the configuration it runs.
	ConfigVersions map[string]string `json:"config_versions,omitempty"`
}

// Ready runs every check at once and reports each one's outcome.
func (s *Server) Ready(ctx context.Context) Readiness {
	checks := s.checks
	if s.more != nil {
		checks = append(slices.Clone(checks), s.more()...)
	}
	r := Readiness{Ready: true, Checks: make(map[string]string, len(checks))}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range checks {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, probeTimeout)
			defer cancel()
			err := c.Probe(pctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				r.Ready = false
				r.Checks[c.Name] = err.Error()
				return
			}
			r.Checks[c.Name] = "ok"
		})
	}
	for _, c := range s.warnings {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, probeTimeout)
			defer cancel()
			if err := c.Probe(pctx); err != nil {
				mu.Lock()
				defer mu.Unlock()
				if r.Warnings == nil {
					r.Warnings = map[string]string{}
				}
				r.Warnings[c.Name] = err.Error()
			}
		})
	}
	if s.versions != nil {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, probeTimeout)
			defer cancel()
			v, err := s.versions(pctx)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				r.ConfigVersions = v
			}
		})
	}
	wg.Wait()
	return r
}

func (s *Server) readyz(w http.ResponseWriter, req *http.Request) {
	r := s.Ready(req.Context())
	if !r.Ready {
		names := make([]string, 0, len(r.Checks))
		for n, v := range r.Checks {
			if v != "ok" {
				names = append(names, n+": "+v)
			}
		}
		sort.Strings(names)
		s.logger.Warn("http: not ready", "failing", names)
	}
	w.Header().Set("Content-Type", "application/json")
	if !r.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(r)
}
