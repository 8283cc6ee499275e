package faultproxy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backupbot/backupbot/storage"
	"github.com/backupbot/backupbot/storage/azure"
	"github.com/backupbot/backupbot/storage/azure/azuretest"
	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/engine"
	"github.com/backupbot/backupbot/storage/retry"
	"github.com/backupbot/backupbot/storage/s3"
	"github.com/backupbot/backupbot/storage/s3/s3test"
)

// Variables that turn the test binary into the backup process the crash
// test kills.
const (
	crashSpecEnv = "BACKUPBOT_CRASH_CHILD_SPEC"
	crashSrcEnv  = "BACKUPBOT_CRASH_CHILD_SRC"
	crashPass    = "crash-test-password"
	killMarker   = "BACKUP-IN-FLIGHT"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(crashSpecEnv); spec != "" {
		os.Exit(crashChild(spec, os.Getenv(crashSrcEnv)))
	}
	os.Exit(m.Run())
}

// crashChild backs up src into the storage spec describes, opened the way
// the service opens it, and prints killMarker once 22 MiB have been read
// (a 16 MiB pack stored, the next in flight), so the parent can kill it
// mid-backup.
func crashChild(specJSON, src string) int {
	ctx := context.Background()
	var spec storage.Spec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 3
	}
	b, err := storage.Open(ctx, spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 3
	}
	eng, err := engine.Open(ctx, b, engine.OpenOptions{Password: crashPass, Create: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 3
	}
	said := false
	_, err = eng.Backup(ctx, engine.BackupRequest{Paths: []string{src}, Type: engine.TypeFull, Target: "crash"}, func(p engine.Progress) {
		if p.Bytes > 22<<20 && !said {
			said = true
			fmt.Println(killMarker)
		}
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 1
	}
	fmt.Println("BACKUP-DONE")
	return 0
}

// TestSIGKILLMidBackupLeavesARepairableRepository kills a backup process
// with SIGKILL while it uploads to S3 or Azure. Afterwards the repository
// must hold no snapshot that references missing data (deep verify clean),
// and the next backup must succeed and restore byte for byte.
func TestSIGKILLMidBackupLeavesARepairableRepository(t *testing.T) {
	type target struct {
		name string
		// setup returns the storage spec, the child's extra environment
		// and a backend on the same repository for the parent.
		setup func(t *testing.T) (storage.Spec, []string, backend.Backend)
	}
	targets := []target{
		{"s3", func(t *testing.T) (storage.Spec, []string, backend.Backend) {
			srv := s3test.Env(t)
			direct := s3test.New(t, s3.Options{})
			spec := storage.Spec{Type: storage.KindS3, Bucket: direct.Bucket(), Region: srv.Region, Endpoint: srv.Endpoint, Prefix: "crash"}
			parent, err := s3.New(context.Background(), srv.Options(s3.Options{Bucket: direct.Bucket(), Prefix: "crash"}))
			if err != nil {
				t.Fatal(err)
			}
			env := []string{"AWS_ACCESS_KEY_ID=" + srv.AccessKey, "AWS_SECRET_ACCESS_KEY=" + srv.SecretKey,
				"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true"}
			return spec, env, parent
		}},
		{"azure", func(t *testing.T) (storage.Spec, []string, backend.Backend) {
			cs := azuretest.ConnectionString(t)
			direct := azuretest.New(t, azure.Options{})
			spec := storage.Spec{Type: storage.KindAzure, Container: direct.Container(), Prefix: "crash"}
			parent, err := azure.New(context.Background(), azure.Options{Container: direct.Container(), Prefix: "crash", ConnectionString: cs})
			if err != nil {
				t.Fatal(err)
			}
			return spec, []string{azure.ConnectionStringEnv + "=" + cs}, parent
		}},
	}
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			ctx := context.Background()
			spec, env, parentBackend := tg.setup(t)
			src := makeTree(t, 40<<20)
			specJSON, _ := json.Marshal(spec)

			child := exec.Command(os.Args[0], "-test.run=^$")
			child.Env = append(os.Environ(), append(env, crashSpecEnv+"="+string(specJSON), crashSrcEnv+"="+src)...)
			var stderr strings.Builder
			child.Stderr = &stderr
			out, err := child.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := child.Start(); err != nil {
				t.Fatal(err)
			}
			killed := make(chan bool, 1)
			go func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					if sc.Text() == killMarker {
						_ = child.Process.Signal(syscall.SIGKILL)
						killed <- true
						return
					}
				}
				killed <- false
			}()
			var wasKilled bool
			select {
			case wasKilled = <-killed:
			case <-time.After(3 * time.Minute):
				_ = child.Process.Kill()
				t.Fatal("the backup child neither reached 22 MiB nor ended within 3 minutes")
			}
			_ = child.Wait()
			if !wasKilled {
				t.Fatalf("the backup child ended before it could be killed: %v\n%s", child.ProcessState, stderr.String())
			}

			be := retry.New(parentBackend, retry.Options{})
			eng, err := engine.Open(ctx, be, engine.OpenOptions{Password: crashPass})
			if err != nil {
				t.Fatalf("opening the repository after the kill: %v", err)
			}
			defer eng.Close()
			snaps, err := eng.Snapshots(ctx, engine.SnapshotFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(snaps) != 0 {
				t.Fatalf("the killed backup left %d snapshots; want none", len(snaps))
			}
			rep, err := eng.Verify(ctx, engine.VerifyRequest{All: true, Deep: true}, nil)
			if err != nil || !rep.OK() {
				t.Fatalf("verify after the kill: %v, problems %v", err, rep)
			}
			if _, err := eng.Backup(ctx, engine.BackupRequest{Paths: []string{src}, Type: engine.TypeFull, Target: "crash"}, nil); err != nil {
				t.Fatalf("the backup after the kill failed: %v", err)
			}
			dest := t.TempDir()
			if _, err := eng.Restore(ctx, engine.RestoreRequest{Snapshot: "latest", To: dest}, nil); err != nil {
				t.Fatal(err)
			}
			sameTree(t, src, findRestored(t, dest, src))
			rep, err = eng.Verify(ctx, engine.VerifyRequest{All: true, Deep: true}, nil)
			if err != nil || !rep.OK() {
				t.Fatalf("verify after the second backup: %v, problems %v", err, rep)
			}
			t.Logf("%s: killed mid-backup; %d unreferenced packs left for cleanup, %d stale locks", tg.name, rep.Unreferenced, len(rep.StaleLocks))
		})
	}
}
