package azure_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/storage/azure"
	"github.com/backupbot/backupbot/storage/azure/azuretest"
	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/backend/backendtest"
	"github.com/backupbot/backupbot/storage/engine/enginetest"
	"github.com/backupbot/backupbot/storage/retry"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		// 1 MiB blocks so the 9 MiB object and the cancelled 6 MiB
		// upload take the staged-block path.
		return azuretest.New(t, azure.Options{Prefix: "repo/one", BlockSize: 1 << 20})
	})
}

func TestConformanceSinglePut(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		return azuretest.New(t, azure.Options{BlockSize: 16 << 20})
	})
}

func TestPrefixKeepsRepositoriesApart(t *testing.T) {
	name := azuretest.UniqueContainer(t)
	a := azuretest.New(t, azure.Options{Container: name, Prefix: "team-a/"})
	other, err := azure.New(context.Background(), azure.Options{Container: name, Prefix: "team-b", ConnectionString: azuretest.ConnectionString(t)})
	if err != nil {
		t.Fatal(err)
	}
	backendtest.PrefixesKeepApart(t, a, other, "azure:"+name+"/team-a")
}

func TestBlockUploadOfManyBlocks(t *testing.T) {
	b := azuretest.New(t, azure.Options{BlockSize: 2 << 20, Concurrency: 3})
	backendtest.RoundTrip(t, b, "data/aa/pack", 21<<20+3, "a 21 MiB blob uploaded in 2 MiB blocks")
}

func TestAccessTierIsApplied(t *testing.T) {
	b := azuretest.New(t, azure.Options{AccessTier: "cool"})
	if err := b.Put(context.Background(), "data/bb/cool", strings.NewReader("cold data"), 9); err != nil {
		t.Fatalf("Put with access tier Cool: %v", err)
	}
}

func TestOptionsAreChecked(t *testing.T) {
	cs := azuretest.ConnectionString(t)
	cases := map[string]azure.Options{
		"no container":       {ConnectionString: cs},
		"unknown tier":       {Container: "c", AccessTier: "lukewarm", ConnectionString: cs},
		"garbled connection": {Container: "c", ConnectionString: "AccountName=x;AccountKey=%%%"},
	}
	for name, opts := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := azure.New(context.Background(), opts); !errors.Is(err, backend.ErrPermanent) {
				t.Fatalf("New(%s) = %v; want a permanent error", name, err)
			}
		})
	}
}

func TestErrorsSayWhatToFix(t *testing.T) {
	ctx := context.Background()
	cs := azuretest.ConnectionString(t)
	good := azuretest.New(t, azure.Options{})
	const fakeKey = "bm90LXRoZS1rZXktYXQtYWxsLW5vdC10aGUta2V5LWF0LWFsbC1ub3QtdGhlLWtleQ=="
	wrongKeyCS := replaceField(cs, "AccountKey", fakeKey)
	mustNew := func(opts azure.Options) *azure.Backend {
		t.Helper()
		b, err := azure.New(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name     string
		b        *azure.Backend
		sentinel error
		mentions []string
	}{
		{"wrong key", mustNew(azure.Options{Container: good.Container(), ConnectionString: wrongKeyCS}), backend.ErrCredentials,
			[]string{"denied", "AZURE_STORAGE_CONNECTION_STRING", good.Container()}},
		{"missing container", mustNew(azure.Options{Container: "bbt-no-such-container", ConnectionString: cs}), backend.ErrNoContainer,
			[]string{"does not exist", "bbt-no-such-container", "container name"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.b.Put(ctx, "locks/probe", strings.NewReader("x"), 1)
			if !errors.Is(err, c.sentinel) || !errors.Is(err, backend.ErrPermanent) {
				t.Fatalf("Put: %v; want an error wrapping %v and ErrPermanent", err, c.sentinel)
			}
			for _, m := range c.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			if strings.Contains(err.Error(), fakeKey) || strings.Contains(err.Error(), field(cs, "AccountKey")) {
				t.Errorf("error %q shows a key", err)
			}
			if listErr := c.b.List(ctx, "", func(backend.Info) error { return nil }); !errors.Is(listErr, c.sentinel) {
				t.Errorf("List: %v; want an error wrapping %v", listErr, c.sentinel)
			}
		})
	}
}

func field(cs, name string) string {
	for _, p := range strings.Split(cs, ";") {
		if v, ok := strings.CutPrefix(p, name+"="); ok {
			return v
		}
	}
	return ""
}

func replaceField(cs, name, value string) string {
	return strings.Replace(cs, name+"="+field(cs, name), name+"="+value, 1)
}

// TestEngineSuite runs the engine's acceptance suite unchanged with the
// repository in a container, behind the retry wrapper as storage.Open sets it up.
func TestEngineSuite(t *testing.T) {
	enginetest.Run(t, func(t *testing.T) backend.Backend {
		return retry.New(azuretest.New(t, azure.Options{Prefix: "repo"}), retry.Options{})
	})
}

// TestDamageSuite runs the engine's damage suite with the repository in a
// container, behind the retry wrapper as storage.Open sets it up.
func TestDamageSuite(t *testing.T) {
	enginetest.RunDamage(t, func(t *testing.T) backend.Backend {
		return retry.New(azuretest.New(t, azure.Options{Prefix: "repo"}), retry.Options{})
	})
}
