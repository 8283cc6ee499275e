// Package azuretest gives tests a backend on the test-owned Azurite that
// `make test` starts (scripts/services/azurite.sh): each call makes a new,
// uniquely named container and deletes it when the test ends.
package azuretest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/backupbot/backupbot/storage/azure"
	"github.com/backupbot/backupbot/storage/backend/backendtest"
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

// Field returns the value of field name ("AccountKey") of the connection
// string cs, "" when it has none.
func Field(cs, name string) string {
	for _, p := range strings.Split(cs, ";") {
		if v, ok := strings.CutPrefix(p, name+"="); ok {
			return v
		}
	}
	return ""
}

// WithField returns the connection string cs with field name set to value
// (a wrong AccountKey, another BlobEndpoint).
func WithField(cs, name, value string) string {
	return strings.Replace(cs, name+"="+Field(cs, name), name+"="+value, 1)
}

// WithBlobEndpoint returns the connection string cs with its BlobEndpoint
// replaced by endpoint (for example a fault-injecting proxy in front of
// Azurite); the account name is kept as the endpoint's path.
func WithBlobEndpoint(cs, endpoint string) string {
	return WithField(cs, "BlobEndpoint", fmt.Sprintf("%s/%s", strings.TrimSuffix(endpoint, "/"), Field(cs, "AccountName")))
}

// UniqueContainer returns a fresh container name.
func UniqueContainer(t testing.TB) string { return backendtest.UniqueName() }

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
