package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/backupbot/backupbot/storage/backend"
)

// exportMemChild is set in the environment of the process that runs the
// export alone, so its peak memory is the export's.
const exportMemChild = "BACKUPBOT_TEST_EXPORT_MEM_ARGS"

// TestExportMemoryChild is the child half of TestExportToS3KeepsMemoryFlat:
// it runs one backupctl command and prints its own peak RSS.
func TestExportMemoryChild(t *testing.T) {
	args := os.Getenv(exportMemChild)
	if args == "" {
		return // only meaningful as the child
	}
	var out, errOut bytes.Buffer
	if code := runContext(context.Background(), strings.Split(args, "\x1f"), strings.NewReader(""), &out, &errOut); code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("MAXRSS_KB %d\n", ru.Maxrss)
}

// TestExportToS3KeepsMemoryFlat: exporting a 160 MiB backup (random, so
// the archive is as large) to an S3 storage peaks under 100 MiB of memory,
// so the archive is streamed, never held whole. The 2 GB run is
// `BENCH_ONLY=export make bench`.
func TestExportToS3KeepsMemoryFlat(t *testing.T) {
	w := newCtlWorld(t)
	be := w.addOffsite(t)
	addRandom := func(name string, mib int) {
		f, err := os.Create(filepath.Join(w.data, name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.CopyN(f, rand.Reader, int64(mib)<<20); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	peak := func(name string) int {
		w.runOK(t, "create", "--type", "full", "--target", "data", "--name", name)
		args := []string{"--config", w.cfg, "export", "--name", name, "--format", "tar", "--destination", "offsite:exports/"}
		cmd := exec.Command(os.Args[0], "-test.run=^TestExportMemoryChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), exportMemChild+"="+strings.Join(args, "\x1f"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("the export process failed: %v\n%s", err, out)
		}
		_, rest, ok := strings.Cut(string(out), "MAXRSS_KB ")
		kb, perr := strconv.Atoi(strings.Fields(rest + " x")[0])
		if !ok || perr != nil {
			t.Fatalf("the export process printed no peak memory:\n%s", out)
		}
		return kb >> 10
	}
	addRandom("big.bin", 160)
	large := peak("large")
	var total int64
	if err := be.List(context.Background(), "exports/large-", func(i backend.Info) error { total += i.Size; return nil }); err != nil || total < 160<<20 {
		t.Fatalf("the large archive in S3 has %d bytes (%v); want at least 160 MiB", total, err)
	}
	t.Logf("peak RSS of the export of a 160 MiB backup to S3: %d MiB", large)
	if large >= 100 {
		t.Fatalf("exporting a 160 MiB backup to S3 peaked at %d MiB of memory; want under 100 MiB (the export must stream)", large)
	}
}
