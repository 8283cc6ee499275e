package backendtest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/internal/randid"
	"github.com/backupbot/backupbot/storage/backend"
)

// UniqueName returns a fresh name for a test's bucket, container or
// directory on a test server ("bbt-" and 12 hex digits).
func UniqueName() string { return "bbt-" + randid.Hex(6) }

// Open makes a backend with newBackend (s3.New, azure.New) from opts and
// fails the test when it cannot.
func Open[O any, B backend.Backend](t testing.TB, newBackend func(context.Context, O) (B, error), opts O) B {
	t.Helper()
	b, err := newBackend(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RefusedAsPermanent checks how b, set up wrongly on purpose (a wrong key,
// a missing bucket or container), fails: a Put fails with an error that
// wraps sentinel and backend.ErrPermanent, mentions each of mentions (what
// to fix) and shows none of secrets, and a List fails with sentinel too.
func RefusedAsPermanent(t *testing.T, b backend.Backend, sentinel error, mentions, secrets []string) {
	t.Helper()
	ctx := context.Background()
	err := b.Put(ctx, "locks/probe", strings.NewReader("x"), 1)
	if !errors.Is(err, sentinel) || !errors.Is(err, backend.ErrPermanent) {
		t.Fatalf("Put: %v; want an error wrapping %v and ErrPermanent", err, sentinel)
	}
	for _, m := range mentions {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q does not mention %q", err, m)
		}
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q shows a secret", err)
		}
	}
	if listErr := b.List(ctx, "", func(backend.Info) error { return nil }); !errors.Is(listErr, sentinel) {
		t.Errorf("List: %v; want an error wrapping %v", listErr, sentinel)
	}
}

// RefusesOptions checks that newBackend refuses each of cases (options by
// name) with a permanent error: settings no retry can fix.
func RefusesOptions[O any, B backend.Backend](t *testing.T, newBackend func(context.Context, O) (B, error), cases map[string]O) {
	t.Helper()
	for name, opts := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := newBackend(context.Background(), opts); !errors.Is(err, backend.ErrPermanent) {
				t.Fatalf("New(%s) = %v; want a permanent error", name, err)
			}
		})
	}
}
