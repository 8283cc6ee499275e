package alerts_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/backupbot/backupbot/alerts"
)

// TestWebhookSignedRetriedNeverBlocking: a receiver verifying with the
// documented scheme accepts the delivery; one answering 500 gets it again
// with growing pauses; Notify returns at once even while the receiver
// hangs.
func TestWebhookSignedRetriedNeverBlocking(t *testing.T) {
	secret := []byte("s3cr3t-shared")
	type hit struct {
		at   time.Time
		body []byte
		err  error
	}
	var mu sync.Mutex
	var hits []hit
	fails := 2
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		body, _ := io.ReadAll(r.Body)
		// The documented scheme, recomputed here from its description:
		// HMAC-SHA256 over "v1:" + timestamp + ":" + body.
		err := alerts.VerifySignature(secret, r.Header.Get(alerts.HeaderTimestamp), r.Header.Get(alerts.HeaderSignature), body, time.Now(), 5*time.Minute)
		mu.Lock()
		hits = append(hits, hit{time.Now(), body, err})
		n := len(hits)
		mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		if n <= fails {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
	}))
	defer srv.Close()

	wh := alerts.NewWebhooks([]alerts.Hook{{URL: srv.URL + "/hook?token=x", Secret: secret}}, alerts.WebhookOptions{
		Attempts: 4, Backoff: func(n int) time.Duration { return time.Duration(n) * 100 * time.Millisecond },
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = wh.Run(ctx) }()

	inc := &alerts.Incident{ID: "inc-1", Key: "backup:web", State: alerts.Open, Failures: 1}
	start := time.Now()
	wh.Notify("opened", inc) // the receiver hangs until released
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Fatalf("Notify waited %s for a hanging receiver", d)
	}
	close(release)

	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(hits)
		mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries, want 3 (two 500s then success)", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // no fourth attempt after the success
	mu.Lock()
	defer mu.Unlock()
	if len(hits) != 3 {
		t.Fatalf("%d deliveries, want exactly 3", len(hits))
	}
	for i, h := range hits {
		if h.err != nil {
			t.Errorf("delivery %d: signature refused: %v", i+1, h.err)
		}
		var p alerts.Payload
		if err := json.Unmarshal(h.body, &p); err != nil || p.Event != "opened" || p.Incident.ID != "inc-1" {
			t.Errorf("delivery %d body %s: %v", i+1, h.body, err)
		}
	}
	if gap := hits[2].at.Sub(hits[1].at); gap < 180*time.Millisecond {
		t.Errorf("second retry came %s after the first, want the backoff (200 ms)", gap)
	}

	// A tampered body or a wrong secret does not verify; nor does an old timestamp.
	ts := time.Now().Unix()
	sig := alerts.Sign(secret, ts, []byte(`{"a":1}`))
	if err := alerts.VerifySignature(secret, strconv.FormatInt(ts, 10), sig, []byte(`{"a":2}`), time.Now(), time.Minute); err == nil {
		t.Error("tampered body verified")
	}
	if err := alerts.VerifySignature([]byte("other"), strconv.FormatInt(ts, 10), sig, []byte(`{"a":1}`), time.Now(), time.Minute); err == nil {
		t.Error("wrong secret verified")
	}
	if err := alerts.VerifySignature(secret, strconv.FormatInt(ts, 10), sig, []byte(`{"a":1}`), time.Now().Add(time.Hour), time.Minute); err == nil {
		t.Error("hour-old timestamp verified")
	}
}
