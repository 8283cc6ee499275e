package httpapi

import (
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits bound what one client can hold of the HTTP listener: slow or
// idle connections are cut off by the timeouts, and the number of open
// connections is capped per client address and in total, so neither
// slow bodies nor piles of idle keep-alives can exhaust the process's file
// descriptors. The zero value of each field means its default.
type Limits struct {
	// ReadHeaderTimeout bounds reading a request's headers (default 5 s).
	ReadHeaderTimeout time.Duration
	// BodyTimeout bounds reading a request's body, counted from when its
	// handler starts (default 5 s).
	BodyTimeout time.Duration
	// ReadTimeout bounds reading a whole request, headers and body (default 10 s).
	ReadTimeout time.Duration
	// WriteTimeout bounds a request from the end of its headers to the end
	// of the response (default 15 s; acks take at most 2.5 s).
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection with no request for this
	// long (default 30 s).
	IdleTimeout time.Duration
	// MaxHeaderBytes caps a request's headers (default 16 KiB).
	MaxHeaderBytes int
	// MaxBodyBytes caps a request's body (default 1 MiB; the chat endpoints
	// allow less).
	MaxBodyBytes int64
	// MaxConnsPerClient caps open connections from one IP address
	// (default 64); further ones are closed at once.
	MaxConnsPerClient int
	// MaxConns caps open connections in total (default 4096); further
	// ones are closed at once.
	MaxConns int
}

// Defaults of Limits.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultBodyTimeout       = 5 * time.Second
	DefaultReadTimeout       = 10 * time.Second
	DefaultWriteTimeout      = 15 * time.Second
	DefaultIdleTimeout       = 30 * time.Second
	DefaultMaxHeaderBytes    = 16 << 10
	DefaultMaxBodyBytes      = 1 << 20
	DefaultMaxConnsPerClient = 64
	DefaultMaxConns          = 4096
)

// withDefaults fills the zero fields.
func (l Limits) withDefaults() Limits {
	orDefault(&l.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	orDefault(&l.BodyTimeout, DefaultBodyTimeout)
	orDefault(&l.ReadTimeout, DefaultReadTimeout)
	orDefault(&l.WriteTimeout, DefaultWriteTimeout)
	orDefault(&l.IdleTimeout, DefaultIdleTimeout)
	orDefault(&l.MaxHeaderBytes, DefaultMaxHeaderBytes)
	orDefault(&l.MaxBodyBytes, DefaultMaxBodyBytes)
	orDefault(&l.MaxConnsPerClient, DefaultMaxConnsPerClient)
	orDefault(&l.MaxConns, DefaultMaxConns)
	return l
}

// orDefault sets *v to def when *v is zero or negative.
func orDefault[T ~int | ~int64](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// server returns an http.Server with the limits' timeouts.
func (l Limits) server(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           l.bodyLimit(h),
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
	}
}

// bodyLimit caps every request body's size and the time to read it.
func (l Limits) bodyLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(l.BodyTimeout))
			r.Body = http.MaxBytesReader(w, r.Body, l.MaxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

// connLimiter is a net.Listener that closes connections beyond the caps
// at once instead of handing them to the server.
type connLimiter struct {
	net.Listener
	perClient, total int
	log              *slog.Logger

	mu       sync.Mutex
	open     int
	byClient map[string]int
	refused  int       // since the last log line
	logged   time.Time // when refusals were last logged
}

func limitConns(ln net.Listener, l Limits, log *slog.Logger) *connLimiter {
	return &connLimiter{Listener: ln, perClient: l.MaxConnsPerClient, total: l.MaxConns, log: log, byClient: map[string]int{}}
}

// Accept returns the next connection within the caps.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host := clientOf(c)
		l.mu.Lock()
		if l.open >= l.total || l.byClient[host] >= l.perClient {
			l.refused++
			if now := time.Now(); now.Sub(l.logged) > 10*time.Second {
				l.log.Warn("http: connection cap reached, closing new connections", "client", host,
					"refused", l.refused, "per_client_cap", l.perClient, "open", l.open, "total_cap", l.total)
				l.refused, l.logged = 0, now
			}
			l.mu.Unlock()
			_ = c.Close()
			continue
		}
		l.open++
		l.byClient[host]++
		l.mu.Unlock()
		return &limitedConn{Conn: c, release: func() { l.release(host) }}, nil
	}
}

func (l *connLimiter) release(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.byClient[host]--; l.byClient[host] <= 0 {
		delete(l.byClient, host)
	}
}

// Open returns the number of connections held open now.
func (l *connLimiter) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

func clientOf(c net.Conn) string {
	addr := c.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// limitedConn gives its slot back once, when closed.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
