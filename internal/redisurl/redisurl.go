// Package redisurl reads REDIS_URL, the one place where backupbot learns
// how to reach Redis, in three forms:
//
//	redis://[[user]:password@]host:port[/db]             one server (rediss:// for TLS, unix:///path.sock?db=N)
//	redis-sentinel://[[user]:password@]host1:port[,host2:port...]/masterName[?db=N&sentinel_password=P]
//	redis-cluster://[[user]:password@]host1:port[,host2:port...]
//
// A sentinel URL lists the Sentinels (not the master); the master is found
// by name and followed through failovers. asynq's own sentinel form with
// ?master=NAME instead of the path is accepted too. A cluster URL lists
// any nodes of the cluster (the others are discovered); it has no db.
//
// Parse returns both clients the service needs from one URL: asynq's
// connection options and a go-redis UniversalClient for backupbot's own
// keys, so the queue and the job records always reach the same servers.
// (backupbot itself refuses the cluster form at start for now: its own
// multi-key scripts are not hash-slot safe; see cmd/backupbot.)
package redisurl

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Kind is the topology a URL names.
type Kind string

// Kinds.
const (
	Single   Kind = "single"
	Sentinel Kind = "sentinel"
	Cluster  Kind = "cluster"
)

// Forms is the help text naming the accepted forms, for error messages.
const Forms = "redis://[:password@]host:port[/db], rediss://..., " +
	"redis-sentinel://[:password@]host1:port,host2:port/masterName[?db=N], " +
	"or redis-cluster://[:password@]host1:port,host2:port"

// Conn is a parsed REDIS_URL.
type Conn struct {
	Kind Kind
	// Asynq is what asynq's client, inspector and server take.
	Asynq asynq.RedisConnOpt
	// Options are go-redis's options for the same servers.
	Options *redis.UniversalOptions
	// Where names the servers for logs, without any password.
	Where string

	single *redis.Options // the single-server form, as go-redis parsed it
}

// NewClient returns a go-redis client for the URL's servers: a plain
// client, a Sentinel-backed failover client or a cluster client.
//
// Calls honour their context's deadline on the socket too, so a call given
// up on (an ack that ran out of time) frees its connection at once instead
// of holding it for the read timeout.
func (c *Conn) NewClient() redis.UniversalClient {
	switch c.Kind {
	case Sentinel:
		o := c.Options.Failover()
		o.ContextTimeoutEnabled = true
		return redis.NewFailoverClient(o)
	case Cluster:
		o := c.Options.Cluster()
		o.ContextTimeoutEnabled = true
		return redis.NewClusterClient(o)
	}
	o := *c.single
	o.ContextTimeoutEnabled = true
	return redis.NewClient(&o)
}

// Parse reads raw. Errors never repeat the password.
func Parse(raw string) (*Conn, error) {
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, fmt.Errorf("REDIS_URL %q has no scheme: use %s", Redact(raw), Forms)
	}
	switch strings.ToLower(scheme) {
	case "redis", "rediss", "unix":
		return parseSingle(raw)
	case "redis-sentinel", "rediss-sentinel":
		return parseMulti(raw, Sentinel)
	case "redis-cluster", "rediss-cluster":
		return parseMulti(raw, Cluster)
	}
	return nil, fmt.Errorf("REDIS_URL scheme %q is not one backupbot knows: use %s", scheme, Forms)
}

func parseSingle(raw string) (*Conn, error) {
	o, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL %s is not a valid Redis URL (%s): %w", Redact(raw), Forms, scrub(err, raw))
	}
	network := o.Network
	if network == "" {
		network = "tcp"
	}
	return &Conn{
		Kind: Single,
		Asynq: asynq.RedisClientOpt{Network: network, Addr: o.Addr, Username: o.Username, Password: o.Password,
			DB: o.DB, TLSConfig: o.TLSConfig},
		Options: &redis.UniversalOptions{Addrs: []string{o.Addr}, Username: o.Username,
			Password: o.Password, DB: o.DB, TLSConfig: o.TLSConfig},
		Where:  Redact(raw),
		single: o,
	}, nil
}

// parseMulti reads the sentinel and cluster forms, whose host part is a
// comma-separated list (which net/url does not accept as a host).
func parseMulti(raw string, kind Kind) (*Conn, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("REDIS_URL %s: %s (use %s)", Redact(raw), fmt.Sprintf(format, a...), Forms)
	}
	scheme, rest, _ := strings.Cut(raw, "://")
	useTLS := strings.HasPrefix(strings.ToLower(scheme), "rediss")
	rest, rawQuery, _ := strings.Cut(rest, "?")
	authority, path, _ := strings.Cut(rest, "/")
	var user, password string
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		info := authority[:at]
		authority = authority[at+1:]
		u, p, hasPass := strings.Cut(info, ":")
		var err error
		if user, err = url.PathUnescape(u); err != nil {
			return nil, bad("the user name is not URL-encoded correctly")
		}
		if hasPass {
			if password, err = url.PathUnescape(p); err != nil {
				return nil, bad("the password is not URL-encoded correctly (percent-encode @ : / ? # as %%40 %%3A %%2F %%3F %%23)")
			}
		}
	}
	var addrs []string
	for a := range strings.SplitSeq(authority, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		host, port, ok := strings.Cut(a, ":")
		if strings.HasPrefix(a, "[") { // [v6]:port
			i := strings.LastIndex(a, "]:")
			if i < 0 {
				return nil, bad("address %q needs a port", a)
			}
			host, port, ok = a[:i+1], a[i+2:], true
		}
		if !ok || host == "" {
			return nil, bad("address %q needs host:port", a)
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return nil, bad("address %q has no valid port", a)
		}
		addrs = append(addrs, a)
	}
	if len(addrs) == 0 {
		return nil, bad("no host:port listed")
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, bad("the query string does not parse: %v", err)
	}
	db := 0
	if s := q.Get("db"); s != "" {
		if db, err = strconv.Atoi(s); err != nil || db < 0 {
			return nil, bad("db=%q is not a database number", s)
		}
	}
	var tlsConf *tls.Config
	if useTLS {
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	path = strings.Trim(path, "/")
	switch kind {
	case Sentinel:
		master := q.Get("master")
		if master == "" {
			name, dbPart, hasDB := strings.Cut(path, "/")
			master = name
			if hasDB && dbPart != "" { // also accept .../masterName/N
				if db, err = strconv.Atoi(dbPart); err != nil || db < 0 {
					return nil, bad("%q after the master name is not a database number", dbPart)
				}
			}
		}
		if master == "" {
			return nil, bad("a sentinel URL names the master after the addresses: redis-sentinel://host1:26379,host2:26379/mymaster")
		}
		sentinelPassword := q.Get("sentinel_password")
		return &Conn{
			Kind: Sentinel,
			Asynq: asynq.RedisFailoverClientOpt{MasterName: master, SentinelAddrs: addrs,
				SentinelUsername: q.Get("sentinel_username"), SentinelPassword: sentinelPassword,
				Username: user, Password: password, DB: db, TLSConfig: tlsConf},
			Options: &redis.UniversalOptions{Addrs: addrs, MasterName: master,
				SentinelUsername: q.Get("sentinel_username"), SentinelPassword: sentinelPassword,
				Username: user, Password: password, DB: db, TLSConfig: tlsConf},
			Where: fmt.Sprintf("sentinels %s, master %q, db %d", strings.Join(addrs, ","), master, db),
		}, nil
	default:
		if path != "" || db != 0 {
			return nil, bad("a Redis Cluster has only database 0: drop the path and db")
		}
		return &Conn{
			Kind:  Cluster,
			Asynq: asynq.RedisClusterClientOpt{Addrs: addrs, Username: user, Password: password, TLSConfig: tlsConf},
			Options: &redis.UniversalOptions{Addrs: addrs, Username: user, Password: password, TLSConfig: tlsConf,
				IsClusterMode: true},
			Where: "cluster " + strings.Join(addrs, ","),
		}, nil
	}
}

// Redact returns raw without its password (for logs and messages).
func Redact(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		if strings.Contains(raw, "@") {
			return "(unparseable URL)"
		}
		return raw
	}
	authEnd := len(rest)
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authEnd = i
	}
	at := strings.LastIndex(rest[:authEnd], "@")
	if at < 0 {
		return redactQuery(scheme + "://" + rest)
	}
	user, _, _ := strings.Cut(rest[:at], ":")
	if user != "" {
		user += ":"
	}
	return redactQuery(scheme + "://" + user + "xxxxx@" + rest[at+1:])
}

// redactQuery hides password-like query values (sentinel_password).
func redactQuery(s string) string {
	base, query, ok := strings.Cut(s, "?")
	if !ok {
		return s
	}
	parts := strings.Split(query, "&")
	for i, p := range parts {
		k, _, _ := strings.Cut(p, "=")
		if strings.Contains(strings.ToLower(k), "password") {
			parts[i] = k + "=xxxxx"
		}
	}
	return base + "?" + strings.Join(parts, "&")
}

// scrub replaces the raw URL inside err's text (go-redis errors may quote
// it) with its redacted form.
func scrub(err error, raw string) error {
	msg := err.Error()
	if strings.Contains(msg, raw) {
		return errors.New(strings.ReplaceAll(msg, raw, Redact(raw)))
	}
	return err
}
