package probe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/backupbot/backupbot/storage/azure"
	"github.com/backupbot/backupbot/storage/azure/azuretest"
	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/backend/backendtest"
	"github.com/backupbot/backupbot/storage/local/localtest"
	"github.com/backupbot/backupbot/storage/probe"
	"github.com/backupbot/backupbot/storage/retry"
	"github.com/backupbot/backupbot/storage/s3"
	"github.com/backupbot/backupbot/storage/s3/s3test"
)

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

type probeCase struct {
	name string
	open func(t *testing.T) backend.Backend
	kind string
	// sentinel is the error the probe's error must wrap (nil for none).
	sentinel error
}

func s3Cases() []probeCase {
	s3With := func(t *testing.T, opts s3.Options) backend.Backend {
		return backendtest.Open(t, s3.New, s3test.Env(t).Options(opts))
	}
	return []probeCase{
		{"s3 works", func(t *testing.T) backend.Backend { return s3test.New(t, s3.Options{Prefix: "team-a"}) }, probe.KindOK, nil},
		{"s3 wrong key", func(t *testing.T) backend.Backend {
			good := s3test.New(t, s3.Options{})
			return s3With(t, s3.Options{Bucket: good.Bucket(),
				Credentials: credentials.NewStaticCredentialsProvider(s3test.Env(t).AccessKey, "wrong-secret-123", "")})
		}, probe.KindCredentials, backend.ErrCredentials},
		{"s3 missing bucket", func(t *testing.T) backend.Backend {
			return s3With(t, s3.Options{Bucket: "bbt-never-created"})
		}, probe.KindMissing, backend.ErrNoContainer},
		{"s3 unreachable endpoint", func(t *testing.T) backend.Backend {
			return s3With(t, s3.Options{Bucket: "bbt-anything", Endpoint: "http://" + closedPort(t)})
		}, probe.KindUnreachable, nil},
	}
}

func azureCases() []probeCase {
	azWith := func(t *testing.T, opts azure.Options) backend.Backend { return backendtest.Open(t, azure.New, opts) }
	return []probeCase{
		{"azure works", func(t *testing.T) backend.Backend { return azuretest.New(t, azure.Options{Prefix: "team-a"}) }, probe.KindOK, nil},
		{"azure wrong key", func(t *testing.T) backend.Backend {
			good := azuretest.New(t, azure.Options{})
			wrong := azuretest.WithField(azuretest.ConnectionString(t), "AccountKey", "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ==")
			return azWith(t, azure.Options{Container: good.Container(), ConnectionString: wrong})
		}, probe.KindCredentials, backend.ErrCredentials},
		{"azure missing container", func(t *testing.T) backend.Backend {
			return azWith(t, azure.Options{Container: "bbt-never-created", ConnectionString: azuretest.ConnectionString(t)})
		}, probe.KindMissing, backend.ErrNoContainer},
		{"azure unreachable endpoint", func(t *testing.T) backend.Backend {
			cs := azuretest.WithBlobEndpoint(azuretest.ConnectionString(t), "http://"+closedPort(t))
			return azWith(t, azure.Options{Container: "bbt-anything", ConnectionString: cs})
		}, probe.KindUnreachable, nil},
	}
}

// TestProbeTellsTheCausesApart is acceptance point 3: a wrong key, a
// missing bucket or container and an unreachable endpoint each get their
// own kind and message, on both remote backends, and a working storage
// gets a full report.
func TestProbeTellsTheCausesApart(t *testing.T) {
	summaries := map[string]string{} // kind -> a summary seen for it
	for _, c := range append(s3Cases(), azureCases()...) {
		t.Run(c.name, func(t *testing.T) {
			// Behind the production retry wrapper, as storage.Open returns
			// it: the probe must still answer at once.
			b := retry.New(c.open(t), retry.Options{})
			rep, err := probe.Run(context.Background(), b, probe.Options{Size: 1 << 20})
			if rep == nil {
				t.Fatalf("no report (err %v)", err)
			}
			if rep.Kind != c.kind {
				t.Fatalf("kind %q (summary %q, err %v); want %q", rep.Kind, rep.Summary, err, c.kind)
			}
			if (err == nil) != (c.kind == probe.KindOK) {
				t.Fatalf("err = %v for kind %s", err, rep.Kind)
			}
			if c.sentinel != nil && !errors.Is(err, c.sentinel) {
				t.Errorf("err %v does not wrap %v", err, c.sentinel)
			}
			if !strings.Contains(rep.Summary, b.Location()) {
				t.Errorf("summary %q does not name the storage %s", rep.Summary, b.Location())
			}
			if strings.Contains(rep.Summary, "wrong-secret-123") || strings.Contains(err2s(err), "wrong-secret-123") {
				t.Errorf("a secret shows in %q / %v", rep.Summary, err)
			}
			if c.kind == probe.KindOK {
				names := []string{}
				for _, s := range rep.Steps {
					names = append(names, s.Name)
				}
				if strings.Join(names, ",") != "list,write,stat,read,read-range,delete" || rep.WriteBytesPerSec <= 0 || rep.ReadBytesPerSec <= 0 {
					t.Fatalf("steps %v, write %.0f B/s, read %.0f B/s; want every step and both rates", names, rep.WriteBytesPerSec, rep.ReadBytesPerSec)
				}
				if rep.Leftover != "" {
					t.Errorf("probe object %s left behind", rep.Leftover)
				}
				n := 0
				if err := b.List(context.Background(), probe.Prefix, func(backend.Info) error { n++; return nil }); err != nil || n != 0 {
					t.Errorf("after the probe, %d objects under %s (list err %v); want none", n, probe.Prefix, err)
				}
			}
			t.Logf("%s: %s", rep.Kind, rep.Summary)
			summaries[c.kind+" "+strings.Fields(c.name)[0]] = genericSummary(rep.Summary, b.Location())
		})
	}
	// The same kind reads the same on both backends; different kinds differ.
	for _, kind := range []string{probe.KindCredentials, probe.KindMissing, probe.KindUnreachable} {
		for _, other := range []string{probe.KindCredentials, probe.KindMissing, probe.KindUnreachable} {
			if kind != other && summaries[kind+" s3"] == summaries[other+" s3"] {
				t.Errorf("%s and %s have the same message %q", kind, other, summaries[kind+" s3"])
			}
		}
	}
}

func err2s(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func genericSummary(s, location string) string { return strings.ReplaceAll(s, location, "LOC") }

func TestProbeWorksOnLocalStorageAndPrintsAReport(t *testing.T) {
	b := localtest.New(t)
	rep, err := probe.Run(context.Background(), b, probe.Options{Size: 256 << 10})
	if err != nil || !rep.OK() {
		t.Fatalf("probe of a local directory: %v (%+v)", err, rep)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"OK", b.Location(), "write", "read-range", "delete", "/s"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Kind  string `json:"kind"`
		Steps []struct {
			Name string  `json:"name"`
			MS   float64 `json:"ms"`
			OK   bool    `json:"ok"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(js, &back); err != nil || back.Kind != "ok" || len(back.Steps) != 6 || !back.Steps[1].OK {
		t.Fatalf("JSON report %s does not decode to kind ok with 6 steps (%v)", js, err)
	}
}

func TestDebugTextShowsTheErrorChain(t *testing.T) {
	b := backendtest.Open(t, s3.New, s3test.Env(t).Options(s3.Options{Bucket: "bbt-x", Endpoint: "http://" + closedPort(t)}))
	rep, _ := probe.Run(context.Background(), b, probe.Options{})
	var plain, debug bytes.Buffer
	_ = rep.WriteText(&plain, false)
	_ = rep.WriteText(&debug, true)
	if !strings.Contains(plain.String(), "FAILED") || !strings.Contains(plain.String(), "cannot reach") {
		t.Errorf("plain report:\n%s", plain.String())
	}
	if !strings.Contains(debug.String(), "connection refused") || len(debug.String()) <= len(plain.String()) {
		t.Errorf("debug report does not show the cause chain:\n%s", debug.String())
	}
}
