package bot

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
)

// Kinds of chat API errors (the kind label of
// backupbot_chat_api_errors_total).
const (
	// APIRateLimited is an answer 429 Too Many Requests.
	APIRateLimited = "rate_limited"
	// APIErrorAnswer is any other error answer: an HTTP status of 400 or
	// more, or (Slack) a 200 whose body says "ok": false.
	APIErrorAnswer = "error"
	// APIUnreachable is a call that got no answer (connection refused,
	// DNS, timeout), not counting calls the caller itself cancelled.
	APIUnreachable = "unreachable"
)

// ChatAPIErrors counts chat platform API calls that did not succeed, by
// platform and kind, as backupbot_chat_api_errors_total. The Slack and
// Discord adapters count every call through Transport. A nil
// *ChatAPIErrors counts nothing.
type ChatAPIErrors struct {
	v *prometheus.CounterVec
}

func newChatAPIErrors() *ChatAPIErrors {
	return &ChatAPIErrors{v: counterVec("backupbot_chat_api_errors_total",
		"Chat platform API calls that did not succeed, by platform and kind (rate_limited: answered 429; error: any other error answer; unreachable: no answer).", "platform", "kind")}
}

// Count adds one failed call of platform p.
func (c *ChatAPIErrors) Count(p Platform, kind string) {
	if c == nil {
		return
	}
	c.v.WithLabelValues(string(p), kind).Inc()
}

// Transport wraps rt (nil: http.DefaultTransport) so that each call
// answered 429, answered with another status of 400 or more, or not
// answered at all is counted for platform p.
func (c *ChatAPIErrors) Transport(p Platform, rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	if c == nil {
		return rt
	}
	return countingTransport{errs: c, platform: p, next: rt}
}

type countingTransport struct {
	errs     *ChatAPIErrors
	platform Platform
	next     http.RoundTripper
}

func (t countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	switch {
	case err != nil:
		if req.Context().Err() == nil {
			t.errs.Count(t.platform, APIUnreachable)
		}
	case resp.StatusCode == http.StatusTooManyRequests:
		t.errs.Count(t.platform, APIRateLimited)
	case resp.StatusCode >= 400:
		t.errs.Count(t.platform, APIErrorAnswer)
	}
	return resp, err
}
