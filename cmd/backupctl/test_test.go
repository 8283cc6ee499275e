package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/storage"
	"github.com/backupbot/backupbot/storage/backend"
)

// testApp is backupctl with a configuration naming a working S3 storage,
// one on a bucket that does not exist, and a local directory.
func testApp(t *testing.T, asJSON bool) (*app, *bytes.Buffer) {
	t.Helper()
	srv, be := s3Bucket(t)
	cfg := &config.File{Storages: map[string]storage.Spec{
		"offsite": {Type: storage.KindS3, Bucket: be.Bucket(), Region: srv.Region, Endpoint: srv.Endpoint, Prefix: "team-a"},
		"typo":    {Type: storage.KindS3, Bucket: "bbt-no-such-bucket", Region: srv.Region, Endpoint: srv.Endpoint},
		"local":   {Type: storage.KindLocal, Path: t.TempDir()},
	}}
	var out bytes.Buffer
	return &app{cfg: cfg, stdout: &out, stderr: &bytes.Buffer{}, json: asJSON}, &out
}

func TestTestPrintsTheProbeReport(t *testing.T) {
	for _, name := range []string{"offsite", "local"} {
		t.Run(name, func(t *testing.T) {
			a, out := testApp(t, false)
			err := execute(context.Background(), a, &commands.Test{Storage: commands.StorageRef{Name: name}})
			if err != nil {
				t.Fatalf("test --storage %s: %v\n%s", name, err, out)
			}
			for _, want := range []string{"storage " + name, "OK", "works", "write", "read", "delete", "ms"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

func TestTestJSON(t *testing.T) {
	a, out := testApp(t, true)
	if err := execute(context.Background(), a, &commands.Test{Storage: commands.StorageRef{Name: "offsite"}}); err != nil {
		t.Fatal(err)
	}
	var res struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	var rep struct {
		Storage  string  `json:"storage"`
		Location string  `json:"location"`
		Kind     string  `json:"kind"`
		Write    float64 `json:"write_bytes_per_sec"`
		Steps    []struct {
			Name string `json:"name"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(res.Data, &rep); err != nil {
		t.Fatalf("the result's data is not the report: %v\n%s", err, out)
	}
	if rep.Storage != "offsite" || rep.Kind != "ok" || rep.Write <= 0 || len(rep.Steps) != 6 || !strings.HasPrefix(rep.Location, "s3:") {
		t.Fatalf("JSON report %+v", rep)
	}
}

func TestTestOfAMissingBucketFailsWithItsCause(t *testing.T) {
	a, out := testApp(t, false)
	err := execute(context.Background(), a, &commands.Test{Storage: commands.StorageRef{Name: "typo"}, Diagnostics: commands.Diagnostics{Debug: true}})
	if err == nil {
		t.Fatalf("test of a missing bucket succeeded:\n%s", out)
	}
	if !errors.Is(err, backend.ErrNoContainer) || a.exitCode(err) != exitFailed {
		t.Errorf("error %v (exit %d); want one wrapping ErrNoContainer, exit %d", err, a.exitCode(err), exitFailed)
	}
	for _, want := range []string{"FAILED", "does not exist", "bbt-no-such-bucket", "cause 1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestTestOfAnUnknownStorageIsBadInput(t *testing.T) {
	a, _ := testApp(t, false)
	err := execute(context.Background(), a, &commands.Test{Storage: commands.StorageRef{Name: "nowhere"}})
	if a.exitCode(err) != exitUsage {
		t.Fatalf("test --storage nowhere: %v; want exit %d", err, exitUsage)
	}
}
