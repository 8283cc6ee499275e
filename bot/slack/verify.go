package slack

import (
	"errors"
	"io"
	"log/slog"
	"net/http"

	slackapi "github.com/slack-go/slack"
)

// verified wraps next so that it only ever sees requests Slack signed with
// the signing secret. The checks run before anything else: the headers and
// the timestamp (within five minutes) first, then the body is read with a
// size limit, then the HMAC-SHA256 over "v0:timestamp:body" is compared in
// constant time. A bad, missing or stale signature gets 401, an oversized
// body 413; next is not called in either case.
func (a *Adapter) verified(next func(w http.ResponseWriter, r *http.Request, body []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sv, err := slackapi.NewSecretsVerifier(r.Header, a.opts.SigningSecret)
		if err != nil {
			a.reject(w, r, http.StatusUnauthorized, "signature headers missing, malformed or expired", err)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.opts.MaxBodyBytes))
		if err != nil {
			if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
				a.reject(w, r, http.StatusRequestEntityTooLarge, "body larger than the limit", err)
				return
			}
			a.reject(w, r, http.StatusBadRequest, "body unreadable", err)
			return
		}
		if _, err := sv.Write(body); err != nil {
			a.reject(w, r, http.StatusUnauthorized, "signature check failed", err)
			return
		}
		if err := sv.Ensure(); err != nil {
			a.reject(w, r, http.StatusUnauthorized, "signature does not match the body", err)
			return
		}
		next(w, r, body)
	}
}

// reject answers a request that failed verification. The log line says why
// without echoing the headers (the signature could be replayed).
func (a *Adapter) reject(w http.ResponseWriter, r *http.Request, status int, why string, err error) {
	a.log.Warn("slack: rejected request", slog.String("path", r.URL.Path), slog.String("remote", r.RemoteAddr),
		slog.Int("status", status), slog.String("reason", why), slog.String("error", err.Error()))
	http.Error(w, http.StatusText(status), status)
}
