package retry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/backend/backendtest"
	"github.com/backupbot/backupbot/storage/local"
	"github.com/backupbot/backupbot/storage/retry"
)

func noSleep(context.Context, time.Duration) error { return nil }

// flaky fails the first failures calls of every kind with err.
type flaky struct {
	backend.Backend
	mu       sync.Mutex
	failures int
	err      error
	calls    int
}

func (f *flaky) fail() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls <= f.failures {
		return f.err
	}
	return nil
}

func (f *flaky) Put(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
	if err := f.fail(); err != nil {
		_, _ = io.CopyN(io.Discard, body, 3) // consume some of the body, like a dropped upload
		return err
	}
	return f.Backend.Put(ctx, key, body, size)
}

func (f *flaky) Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.Backend.Get(ctx, key, off, n)
}

func (f *flaky) Delete(ctx context.Context, key string) error {
	if err := f.Backend.Delete(ctx, key); err != nil {
		return err
	}
	return f.fail() // deleted, but the answer got lost
}

func newLocal(t *testing.T) backend.Backend {
	b, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformanceThroughTheWrapper(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		return retry.New(newLocal(t), retry.Options{Sleep: noSleep})
	})
}

func TestTransientErrorsAreRetried(t *testing.T) {
	f := &flaky{Backend: newLocal(t), failures: 2, err: errors.New("connection reset")}
	b := retry.New(f, retry.Options{Sleep: noSleep})
	if err := b.Put(t.Context(), "keys/a", strings.NewReader("hello"), 5); err != nil {
		t.Fatalf("Put after two transient failures: %v", err)
	}
	rc, err := f.Backend.Get(t.Context(), "keys/a", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "hello" {
		t.Fatalf("stored %q after retries; want the whole body %q (the body must be rewound)", got, "hello")
	}
	f.calls, f.failures = 0, 1
	if err := b.Delete(t.Context(), "keys/a"); err != nil {
		t.Fatalf("Delete whose first answer was lost: %v; want success", err)
	}
}

func TestPermanentAndNotFoundAreNotRetried(t *testing.T) {
	for _, sentinel := range []error{backend.ErrPermanent, backend.ErrNotFound} {
		f := &flaky{Backend: newLocal(t), failures: 100, err: fmt.Errorf("access denied: %w", sentinel)}
		b := retry.New(f, retry.Options{Sleep: noSleep})
		_, err := b.Get(t.Context(), "keys/a", 0, -1)
		if !errors.Is(err, sentinel) {
			t.Fatalf("Get = %v; want the %v error", err, sentinel)
		}
		if f.calls != 1 {
			t.Fatalf("an error wrapping %v was tried %d times; want 1", sentinel, f.calls)
		}
	}
}

func TestGivesUpAfterAttempts(t *testing.T) {
	f := &flaky{Backend: newLocal(t), failures: 100, err: errors.New("timeout")}
	b := retry.New(f, retry.Options{Attempts: 3, Sleep: noSleep})
	_, err := b.Get(t.Context(), "keys/a", 0, -1)
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Fatalf("Get = %v; want it to give up after 3 attempts", err)
	}
	if f.calls != 3 {
		t.Fatalf("tried %d times; want 3", f.calls)
	}
}

func TestCancelledContextStopsRetrying(t *testing.T) {
	f := &flaky{Backend: newLocal(t), failures: 100, err: errors.New("timeout")}
	ctx, cancel := context.WithCancel(t.Context())
	b := retry.New(f, retry.Options{Sleep: func(ctx context.Context, _ time.Duration) error {
		cancel()
		return ctx.Err()
	}})
	if _, err := b.Get(ctx, "keys/a", 0, -1); err == nil {
		t.Fatal("Get succeeded against a backend that always fails")
	}
	if f.calls != 1 {
		t.Fatalf("tried %d times after the context was cancelled; want 1", f.calls)
	}
}
