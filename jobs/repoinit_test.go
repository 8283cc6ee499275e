package jobs

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/storage"
)

// A worker with no repository password refuses to create a repository
// (naming the variables to set), at once and for good; a storage with
// encryption: none gets its plaintext repository, and a backup into it
// with a password set warns that it is NOT encrypted.
func TestWorkerRefusesANewRepositoryWithoutAPassword(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	repo, data := filepath.Join(dir, "repo"), filepath.Join(dir, "data")
	writeTree(t, data, 1000)
	var mu sync.Mutex
	cfg, password := testConfig(repo, map[string]string{"data": data}), ""
	deps := h.deps()
	deps.Config = func() *config.File { mu.Lock(); defer mu.Unlock(); return cfg }
	deps.Password = func(storage.Spec) (string, error) { mu.Lock(); defer mu.Unlock(); return password, nil }
	h.startWorker(deps, WorkerOptions{})

	meta := h.enqueue(&commands.Create{Type: commands.TypeFull, Target: "data"})
	ev := h.waitFinal(meta.JobID, 30*time.Second)
	if ev.Kind != EventFailed || !strings.Contains(ev.Error, "BACKUPBOT_REPO_PASSWORD") || !strings.Contains(ev.Error, "encryption: none") {
		t.Fatalf("create without a password: %s %q; want failed, naming BACKUPBOT_REPO_PASSWORD and encryption: none", ev.Kind, ev.Error)
	}
	if kinds := h.events.kinds(meta.JobID); slices.Contains(kinds, EventRetrying) {
		t.Errorf("the refusal was retried: %v", kinds)
	}
	if _, err := os.Stat(filepath.Join(repo, "config")); err == nil {
		t.Fatal("the refused create made a repository")
	}

	plain := testConfig(repo, map[string]string{"data": data})
	plain.Storages["local"] = storage.Spec{Type: storage.KindLocal, Path: repo, Encryption: storage.EncryptionNone}
	mu.Lock()
	cfg = plain
	mu.Unlock()
	ev = h.waitFinal(h.enqueue(&commands.Create{Type: commands.TypeFull, Target: "data"}).JobID, 30*time.Second)
	if ev.Kind != EventSucceeded {
		t.Fatalf("create into a storage with encryption: none: %s %q", ev.Kind, ev.Error)
	}
	mu.Lock()
	password = "set too late"
	mu.Unlock()
	ev = h.waitFinal(h.enqueue(&commands.Create{Type: commands.TypeFull, Target: "data"}).JobID, 30*time.Second)
	if ev.Kind != EventSucceeded || !strings.Contains(field(ev.Result, "⚠️ Warning"), "NOT encrypted") {
		t.Fatalf("a backup into a plaintext repository with a password set: %s, fields %+v; want a warning that it is NOT encrypted", ev.Kind, ev.Result)
	}
}
