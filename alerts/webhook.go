package alerts

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Webhook signing, like Slack's request signing:
//
//	X-Backupbot-Request-Timestamp: <Unix seconds when sent>
//	X-Backupbot-Signature: v1=<hex HMAC-SHA256(secret, "v1:" + timestamp + ":" + body)>
//
// A receiver recomputes the HMAC over the raw body with the shared secret,
// compares in constant time, and refuses timestamps more than five minutes
// off its clock (replays). VerifySignature does exactly that.
const (
	HeaderTimestamp = "X-Backupbot-Request-Timestamp"
	HeaderSignature = "X-Backupbot-Signature"
	signatureScheme = "v1"
)

// Sign returns the X-Backupbot-Signature value for body sent at ts.
func Sign(secret []byte, ts int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "%s:%d:", signatureScheme, ts)
	m.Write(body)
	return signatureScheme + "=" + hex.EncodeToString(m.Sum(nil))
}

// VerifySignature checks a webhook request's headers against its body:
// the signature must match and the timestamp be within tolerance of now.
func VerifySignature(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook: %s %q is not Unix seconds", HeaderTimestamp, timestamp)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("webhook: timestamp %s is %s off this clock (more than %s): a replay, or a clock to fix", timestamp, d.Round(time.Second), tolerance)
	}
	if !hmac.Equal([]byte(Sign(secret, ts, body)), []byte(signature)) {
		return errors.New("webhook: signature does not match (wrong secret, or the body was changed)")
	}
	return nil
}

// Hook is one webhook receiver.
type Hook struct {
	URL    string
	Secret []byte
}

// Payload is the JSON body of a webhook: one incident change.
type Payload struct {
	// Event is opened, repeated, acknowledged, silenced or resolved.
	Event    string    `json:"event"`
	Incident *Incident `json:"incident"`
	At       time.Time `json:"at"`
}

// WebhookOptions tune Webhooks; the zero value is what the service uses.
type WebhookOptions struct {
	// Attempts is how often a delivery is tried (default 5).
	Attempts int
	// Backoff is the pause before retry n (n = 1 first); default 1 s, 2 s,
	// 4 s, ... capped at 1 min.
	Backoff func(n int) time.Duration
	// Timeout bounds one request (default 10 s).
	Timeout time.Duration
	// Queue is how many deliveries may wait (default 256); when it is full
	// new ones are dropped with a warning rather than wait.
	Queue  int
	Logger *slog.Logger
}

type delivery struct {
	hook Hook
	body []byte
}

// Webhooks posts incident changes to the configured receivers in the
// background: Notify never waits for a receiver.
type Webhooks struct {
	hooks  []Hook
	o      WebhookOptions
	client *http.Client
	queue  chan delivery
	now    func() time.Time
}

// NewWebhooks returns the sender; call Run to start delivering.
func NewWebhooks(hooks []Hook, o WebhookOptions) *Webhooks {
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.Backoff == nil {
		o.Backoff = func(n int) time.Duration { return min(time.Second<<(n-1), time.Minute) }
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Queue <= 0 {
		o.Queue = 256
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Webhooks{hooks: hooks, o: o, client: &http.Client{Timeout: o.Timeout}, queue: make(chan delivery, o.Queue), now: time.Now}
}

// Notify queues one incident change for every receiver and returns at once.
func (w *Webhooks) Notify(event string, inc *Incident) {
	if w == nil || len(w.hooks) == 0 {
		return
	}
	body, err := json.Marshal(Payload{Event: event, Incident: inc, At: w.now().UTC()})
	if err != nil {
		w.o.Logger.Warn("webhook: encoding the payload", "incident", inc.ID, "err", err)
		return
	}
	for _, h := range w.hooks {
		select {
		case w.queue <- delivery{hook: h, body: body}:
		default:
			w.o.Logger.Warn("webhook: queue full, dropping a delivery", "url", redactURL(h.URL), "incident", inc.ID, "event", event)
		}
	}
}

// Run delivers queued changes until ctx is done, each with its retries, in
// order; a receiver that keeps failing delays only later deliveries.
func (w *Webhooks) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case d := <-w.queue:
			w.deliver(ctx, d)
		}
	}
}

func (w *Webhooks) deliver(ctx context.Context, d delivery) {
	var err error
	for n := 1; n <= w.o.Attempts; n++ {
		if err = w.post(ctx, d); err == nil {
			return
		}
		if n == w.o.Attempts {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(w.o.Backoff(n)):
		}
	}
	w.o.Logger.Warn("webhook: giving up on a delivery", "url", redactURL(d.hook.URL), "attempts", w.o.Attempts, "err", err)
}

func (w *Webhooks) post(ctx context.Context, d delivery) error {
	ts := w.now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.hook.URL, bytes.NewReader(d.body))
	if err != nil {
		return fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "backupbot-webhook/1")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(d.hook.Secret, ts, d.body))
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook POST to %s: %w", redactURL(d.hook.URL), err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook POST to %s: answered %s", redactURL(d.hook.URL), resp.Status)
	}
	return nil
}

// redactURL keeps a URL's scheme, host and path: query strings often carry tokens.
func redactURL(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i] + "?…"
	}
	return u
}
