// Package azuretest gives tests a backend on the test-owned Azurite that
// `make test` starts (scripts/services/azurite.sh): each call makes a new,
// uniquely named container and deletes it when the test ends.
package azuretest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/backupbot/backupbot/storage/azure"
)

// Env is the name of the variable holding the test connection string.
const Env = "BACKUPBOT_TEST_AZURE_CONNECTION_STRING"

// ConnectionString reads the test connection string; it fails the test
// with instructions when it is unset.
func ConnectionString(t testing.TB) string {
	t.Helper()
	cs := os.Getenv(Env)
	if cs == "" {
		t.Fatal(Env + " is unset: run `make test`, which starts a test-owned Azurite " +
			"(or run `eval \"$(bash scripts/services/azurite.sh start)\"` first)")
	}
	return cs
}

// WithBlobEndpoint returns the connection string cs with its BlobEndpoint
// replaced by endpoint (for example a fault-injecting proxy in front of
// Azurite); the account name is kept as the endpoint's path.
func WithBlobEndpoint(cs, endpoint string) string {
	parts := strings.Split(strings.TrimSuffix(cs, ";"), ";")
	account := ""
	for _, p := range parts {
		if v, ok := strings.CutPrefix(p, "AccountName="); ok {
			account = v
		}
	}
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		if strings.HasPrefix(p, "BlobEndpoint=") {
			p = fmt.Sprintf("BlobEndpoint=%s/%s", strings.TrimSuffix(endpoint, "/"), account)
		}
		out = append(out, p)
	}
	return strings.Join(out, ";") + ";"
}

// UniqueContainer returns a fresh container name.
func UniqueContainer(t testing.TB) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "bbt-" + hex.EncodeToString(b[:])
}

// New opens a backend on a new container (opts.Container, else a unique
// name) that is deleted when the test ends. opts.ConnectionString defaults
// to the test one.
func New(t testing.TB, opts azure.Options) *azure.Backend {
	t.Helper()
	cs := ConnectionString(t)
	if opts.ConnectionString == "" {
		opts.ConnectionString = cs
	}
	if opts.Container == "" {
		opts.Container = UniqueContainer(t)
	}
	opts.CreateContainer = true
	b, err := azure.New(context.Background(), opts)
	if err != nil {
		t.Fatalf("azure.New on the test Azurite: %v", err)
	}
	t.Cleanup(func() {
		if err := RemoveContainer(context.Background(), cs, opts.Container); err != nil {
			t.Errorf("removing test container %s: %v", opts.Container, err)
		}
	})
	return b
}

// RemoveContainer deletes a container and everything in it.
func RemoveContainer(ctx context.Context, connectionString, name string) error {
	c, err := azblob.NewClientFromConnectionString(connectionString, nil)
	if err != nil {
		return err
	}
	_, err = c.DeleteContainer(ctx, name, nil)
	return err
}
