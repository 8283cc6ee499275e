package bot_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/storage"
	"github.com/backupbot/backupbot/storage/engine"
	"github.com/backupbot/backupbot/storage/pack"
	"github.com/backupbot/backupbot/storage/repo"
)

// dataTarget makes a target directory with a file or two and a config with
// it and one local storage (spec tweaked by edit, when set).
func dataTarget(t *testing.T, edit func(*storage.Spec)) (*atomic.Pointer[config.File], string) {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(filepath.Join(data, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"a.txt": "hello\n", "sub/b.txt": strings.Repeat("drill ", 5000)} {
		if err := os.WriteFile(filepath.Join(data, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	spec := storage.Spec{Type: "local", Path: filepath.Join(dir, "repo")}
	if edit != nil {
		edit(&spec)
	}
	var cfg atomic.Pointer[config.File]
	cfg.Store(&config.File{
		Storages: map[string]storage.Spec{"local": spec},
		Targets:  map[string]config.Target{"data": {Paths: []string{data}}},
	})
	return &cfg, spec.Path
}

// TestDrillIncidentThroughConsole is issue 15's third point through the
// console adapter, a real Redis and a real worker: a recovery drill of an
// intact repository passes and reports the measured RTO per GiB, opening
// nothing; once a data pack is damaged, the drill a `schedule --type
// restore-test` runs fails, naming the file, and opens one incident in the
// on-call channel.
func TestDrillIncidentThroughConsole(t *testing.T) {
	cfg, repoDir := dataTarget(t, nil)
	s := newIncidentStack(t, cfg, incidentOptions{})
	s.run("create --target data --storage local", "", jobs.StateSucceeded)
	id := s.run("verify --restore-test --all --storage local", "", jobs.StateSucceeded)
	st, err := s.client.Status(s.ctx, id)
	if err != nil || st.Result == nil || !strings.Contains(st.Result.Summary, "passed") || !strings.Contains(st.Result.Summary, "s/GiB") {
		t.Fatalf("drill of an intact repository: %+v, %v; want it passed with the measured RTO", st, err)
	}
	if n := s.count(`OPEN`); n != 0 {
		t.Fatalf("a drill that passed opened an incident")
	}

	// One file's data loses a byte in its pack.
	damageDataBlob(t, repoDir)
	// The drill is scheduled; the scheduler runs it.
	s.run(`schedule --action create --name drill --cron "@every 1m" --type restore-test --storage local`, "", jobs.StateSucceeded)
	// Its first run is due: the scheduler's clock is two minutes ahead.
	sched := jobs.NewScheduler(s.client, s.rdb, jobs.SchedulerOptions{Tick: 100 * time.Millisecond, Now: func() time.Time { return time.Now().Add(2 * time.Minute) }})
	ctx, cancel := context.WithCancel(s.ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = sched.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	root, _ := s.opened(`Recovery drill of storage \*local\*`)
	s.waitFor(`^\s+↳ \[msg-\d+ in `+root+`\] ❌ Job .* failed: recovery drill of storage local FAILED: .*file .*/data/(a|sub/b)\.txt`, 1)
	s.waitFor(`Schedule: drill`, 1)
	if n := s.count(`^\[msg-\d+\] 🔴 OPEN`); n != 1 {
		t.Errorf("%d incident messages for one failing drill, want 1", n)
	}
}

// TestSizeLimitIncident is issue 14's size-limit incident: a backup that
// leaves the repository over its storage's size_limit opens an incident
// saying how big it is and what the limit is; a later backup that finds
// it within the (raised) limit resolves it.
func TestSizeLimitIncident(t *testing.T) {
	cfg, _ := dataTarget(t, func(s *storage.Spec) { s.SizeLimit = "1KiB" })
	s := newIncidentStack(t, cfg, incidentOptions{})
	s.run("create --target data --storage local", "", jobs.StateSucceeded)
	root, _ := s.opened(`Repository size of storage \*local\*`)
	s.waitFor(`^\s+↳ \[msg-\d+ in `+root+`\] 📦 repository on local is [0-9.]+ kB, over its 1KiB limit`, 1)
	// Over the limit again: still one incident.
	s.run("create --target data --storage local", "", jobs.StateSucceeded)

	c := *cfg.Load()
	c.Storages = map[string]storage.Spec{"local": c.Storages["local"]}
	spec := c.Storages["local"]
	spec.SizeLimit = "1GiB"
	c.Storages["local"] = spec
	cfg.Store(&c)
	s.run("create --target data --storage local", "", jobs.StateSucceeded)
	s.waitFor(`^\s+↳ \[msg-\d+ in `+root+`\] ✅ Resolved: after job .* the repository on local is [0-9.]+ kB, within its 1GiB limit`, 1)
	s.waitFor(`^\[edit `+root+`\] 🟢 RESOLVED`, 1)
	if n := s.count(`^\[msg-\d+\] 🔴 OPEN`); n != 1 {
		t.Errorf("%d size incidents, want 1", n)
	}
}

// TestSilenceIncident: pressing "Silence for N hours" is refused to
// someone without the role (and audited); by someone with it, it is
// audited and keeps repeats out of the thread for N hours of the
// (simulated) clock; after that a new failure posts again.
func TestSilenceIncident(t *testing.T) {
	cfg, _ := dataTarget(t, func(s *storage.Spec) { s.Path = filepath.Join(os.DevNull, "repo") }) // unreachable
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	s := newIncidentStack(t, cfg, incidentOptions{Now: clock})

	s.run("create --target data --storage local", "nightly", jobs.StateFailed)
	root, id := s.opened(`Backups of target \*data\*`)
	repeats := `^\s+↳ \[msg-\d+ in ` + root + `\] ❌ Failed again`

	s.click("dave", "click "+bot.ActionIncidentSilence+" "+id+":4")
	s.waitFor(`⛔ .*you may not act on incident `+"`"+id, 1)
	s.click("alice", "click "+bot.ActionIncidentSilence+" "+id+":4")
	s.waitFor(`^\s+↳ \[msg-\d+ in `+root+`\] 🔕 Silenced for 4 h by .*alice`, 1)
	s.waitFor(`^\s+Silenced: until .* by .*alice`, 1)

	// Two hours later it fails again: counted, not posted.
	now.Add(int64(2 * time.Hour))
	s.run("create --target data --storage local", "nightly", jobs.StateFailed)
	deadline := time.Now().Add(10 * time.Second)
	for {
		inc, err := s.incidents.Get(s.ctx, id)
		if err == nil && inc.Failures == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the repeat was not counted: %+v, %v", inc, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if n := s.count(repeats); n != 0 {
		t.Fatalf("a silenced incident posted %d repeats", n)
	}

	// Past the four hours, the next failure posts again.
	now.Add(int64(2*time.Hour + time.Minute))
	s.run("create --target data --storage local", "nightly", jobs.StateFailed)
	s.waitFor(repeats+` \(3 times\)`, 1)
	s.audited(bot.AuditIncidentRefused, bot.AuditIncidentSilenced)
}

// damageDataBlob flips a byte in the middle of one file-data blob of the
// local repository at path (its pack's other blobs, trees too, stay
// intact).
func damageDataBlob(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	b, err := storage.Open(ctx, storage.Spec{Type: storage.KindLocal, Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	e, err := engine.Open(ctx, b, engine.OpenOptions{Password: "test repository password"})
	if err != nil {
		t.Fatal(err)
	}
	var loc *repo.Location
	e.Repository().Index.Each(func(l repo.Location) {
		if loc == nil && l.Type == pack.DataBlob {
			loc = &l
		}
	})
	e.Close()
	if loc == nil {
		t.Fatal("no file data in the repository")
	}
	file := filepath.Join(path, filepath.FromSlash(repo.PackKey(loc.Pack)))
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	data[int(loc.Offset)+int(loc.Length)/2] ^= 0xff
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
