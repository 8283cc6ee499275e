package main

import (
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/storage"
)

// TestDashboardThreeTwoOneIsCachedNotBlocking: the dashboard's 3-2-1 cell
// never waits for the storages: the first page says "checking…", a later
// one the line the rule gives (one copy on one local disk: not met).
func TestDashboardThreeTwoOneIsCachedNotBlocking(t *testing.T) {
	cfg := &config.File{
		Storages: map[string]storage.Spec{"local": {Type: storage.KindLocal, Path: t.TempDir()}},
		Targets:  map[string]config.Target{"data": {Paths: []string{t.TempDir()}}},
	}
	c := newThreeTwoOne(jobs.Deps{Config: func() *config.File { return cfg },
		Password: func(storage.Spec) (string, error) { return "pw", nil }}, nil)
	if got := c.Cached("data"); got != "checking…" {
		t.Fatalf("first dashboard cell = %q; want checking…", got)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := c.Cached("data")
		if strings.HasPrefix(got, "3-2-1 NOT met") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dashboard cell after 30 s = %q; want the rule's line (not met)", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
