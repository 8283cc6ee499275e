package azure_test

import (
	"context"
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
	backendtest.RefusesOptions(t, azure.New, map[string]azure.Options{
		"no container":       {ConnectionString: cs},
		"unknown tier":       {Container: "c", AccessTier: "lukewarm", ConnectionString: cs},
		"garbled connection": {Container: "c", ConnectionString: "AccountName=x;AccountKey=%%%"},
	})
}

func TestErrorsSayWhatToFix(t *testing.T) {
	cs := azuretest.ConnectionString(t)
	good := azuretest.New(t, azure.Options{})
	const fakeKey = "bm90LXRoZS1rZXktYXQtYWxsLW5vdC10aGUta2V5LWF0LWFsbC1ub3QtdGhlLWtleQ=="
	wrongKeyCS := azuretest.WithField(cs, "AccountKey", fakeKey)
	cases := []struct {
		name     string
		opts     azure.Options
		sentinel error
		mentions []string
	}{
		{"wrong key", azure.Options{Container: good.Container(), ConnectionString: wrongKeyCS}, backend.ErrCredentials,
			[]string{"denied", "AZURE_STORAGE_CONNECTION_STRING", good.Container()}},
		{"missing container", azure.Options{Container: "bbt-no-such-container", ConnectionString: cs}, backend.ErrNoContainer,
			[]string{"does not exist", "bbt-no-such-container", "container name"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := backendtest.Open(t, azure.New, c.opts)
			backendtest.RefusedAsPermanent(t, b, c.sentinel, c.mentions, []string{fakeKey, azuretest.Field(cs, "AccountKey")})
		})
	}
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
