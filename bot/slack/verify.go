package slack

import (
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
			a.gate.Reject(w, r, http.StatusUnauthorized, "signature headers missing, malformed or expired", err)
			return
		}
		body, ok := a.gate.Body(w, r)
		if !ok {
			return
		}
		if _, err := sv.Write(body); err != nil {
			a.gate.Reject(w, r, http.StatusUnauthorized, "signature check failed", err)
			return
		}
		if err := sv.Ensure(); err != nil {
			a.gate.Reject(w, r, http.StatusUnauthorized, "signature does not match the body", err)
			return
		}
		next(w, r, body)
	}
}
