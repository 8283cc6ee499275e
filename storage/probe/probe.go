// Package probe tests a storage end to end, the work behind
// `/backup test --storage NAME`: it lists, writes, stats, reads (whole and
// a range) and deletes a probe object under probes/, times each step,
// measures write and read throughput, and when a step fails says in one
// sentence which of the usual causes it is: credentials the store rejects,
// a bucket or container that does not exist, or an endpoint nothing
// answers at. It never touches a repository's own objects.
package probe

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/backupbot/backupbot/internal/humanize"
	"github.com/backupbot/backupbot/internal/randid"
	"github.com/backupbot/backupbot/storage/backend"
)

// Prefix is where probe objects live; a repository never uses it.
const Prefix = "probes/"

// DefaultSize is how many bytes the write and read steps move.
const DefaultSize = 4 << 20

// Kinds of outcome, in Report.Kind.
const (
	KindOK          = "ok"
	KindCredentials = "credentials"       // the store rejected the credentials
	KindMissing     = "missing-container" // the bucket or container does not exist
	KindUnreachable = "unreachable"       // nothing answered at the endpoint
	KindFailed      = "failed"            // any other failure
)

// Options tune a probe run.
type Options struct {
	// Size is the probe object's size in bytes (default DefaultSize).
	Size int64
	// KeepRetries probes through a retry wrapper as it is. By default the
	// probe talks to the backend under it, so a failure shows at once and
	// the latencies are the store's own.
	KeepRetries bool
}

// Step is one timed operation of the probe.
type Step struct {
	Name     string
	Duration time.Duration
	// Bytes moved by the step (write and read only).
	Bytes int64
	// Err is the step's failure; nil when it worked.
	Err error
}

// OK reports whether the step worked.
func (s Step) OK() bool { return s.Err == nil }

// MarshalJSON writes durations in milliseconds and the error as text.
func (s Step) MarshalJSON() ([]byte, error) {
	v := struct {
		Name  string  `json:"name"`
		MS    float64 `json:"ms"`
		Bytes int64   `json:"bytes,omitempty"`
		OK    bool    `json:"ok"`
		Error string  `json:"error,omitempty"`
	}{Name: s.Name, MS: ms(s.Duration), Bytes: s.Bytes, OK: s.OK()}
	if s.Err != nil {
		v.Error = s.Err.Error()
	}
	return json.Marshal(v)
}

// Report is the outcome of a probe run.
type Report struct {
	Location string `json:"location"`
	// Kind is one of the Kind constants.
	Kind string `json:"kind"`
	// Summary is one sentence for humans: that the storage works, or what
	// is wrong and what to check.
	Summary string `json:"summary"`
	Steps   []Step `json:"steps"`
	// WriteBytesPerSec and ReadBytesPerSec are the throughput of the write
	// and whole-object read steps (0 when they did not run).
	WriteBytesPerSec float64 `json:"write_bytes_per_sec"`
	ReadBytesPerSec  float64 `json:"read_bytes_per_sec"`
	// Leftover names a probe object that could not be deleted.
	Leftover string `json:"leftover,omitempty"`
}

// OK reports whether every step worked.
func (r *Report) OK() bool { return r.Kind == KindOK }

// Run probes b. The report is always returned; the error is non-nil when
// the storage failed a step (it wraps the step's error, so errors.Is with
// backend.ErrCredentials and the like still works) or ctx ended.
func Run(ctx context.Context, b backend.Backend, opts Options) (*Report, error) {
	if opts.Size <= 0 {
		opts.Size = DefaultSize
	}
	if !opts.KeepRetries {
		for {
			u, ok := b.(interface{ Unwrap() backend.Backend })
			if !ok {
				break
			}
			b = u.Unwrap()
		}
	}
	rep := &Report{Location: b.Location()}
	data := make([]byte, opts.Size)
	if _, err := rand.Read(data); err != nil {
		return nil, fmt.Errorf("probe: making random data: %w", err)
	}
	key := Prefix + randid.Hex(8)

	step := func(name string, n int64, f func() error) error {
		t := time.Now()
		err := f()
		rep.Steps = append(rep.Steps, Step{Name: name, Duration: time.Since(t), Bytes: n, Err: err})
		return err
	}
	fail := func(err error) (*Report, error) {
		rep.Kind, rep.Summary = classify(rep, err)
		return rep, fmt.Errorf("%s: %w", rep.Summary, err)
	}

	// list: reachability, credentials and the container in one request.
	if err := step("list", 0, func() error {
		return b.List(ctx, Prefix, func(backend.Info) error { return nil })
	}); err != nil {
		return fail(err)
	}
	if err := step("write", opts.Size, func() error {
		return b.Put(ctx, key, bytes.NewReader(data), opts.Size)
	}); err != nil {
		return fail(err)
	}
	// From here on the probe object exists: remove it whatever happens.
	deleted := false
	defer func() {
		if !deleted {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := b.Delete(dctx, key); err != nil && !errors.Is(err, backend.ErrNotFound) {
				rep.Leftover = key
			}
		}
	}()
	if err := step("stat", 0, func() error {
		info, err := b.Stat(ctx, key)
		if err == nil && info.Size != opts.Size {
			err = fmt.Errorf("the store reports %d bytes for an object of %d: it does not keep what it is given", info.Size, opts.Size)
		}
		return err
	}); err != nil {
		return fail(err)
	}
	if err := step("read", opts.Size, func() error { return readBack(ctx, b, key, 0, -1, data) }); err != nil {
		return fail(err)
	}
	off, n := opts.Size/3, min(opts.Size-opts.Size/3, 64<<10)
	if err := step("read-range", n, func() error { return readBack(ctx, b, key, off, n, data[off:off+n]) }); err != nil {
		return fail(err)
	}
	if err := step("delete", 0, func() error {
		if err := b.Delete(ctx, key); err != nil {
			return err
		}
		deleted = true
		if _, err := b.Stat(ctx, key); !errors.Is(err, backend.ErrNotFound) {
			return fmt.Errorf("the probe object is still there after a delete (stat: %v)", err)
		}
		return nil
	}); err != nil {
		return fail(err)
	}
	rep.Kind = KindOK
	rep.throughput()
	rep.Summary = fmt.Sprintf("%s works: listed, wrote, read back and deleted a %s probe object (write %s, read %s)",
		rep.Location, humanize.Bytes(int64(opts.Size)), humanize.Rate(rep.WriteBytesPerSec), humanize.Rate(rep.ReadBytesPerSec))
	return rep, nil
}

func readBack(ctx context.Context, b backend.Backend, key string, off, n int64, want []byte) error {
	rc, err := b.Get(ctx, key, off, n)
	if err != nil {
		return err
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("read back %d bytes that differ from the %d written: the store or something on the way corrupts data", len(got), len(want))
	}
	return nil
}

// classify fills in throughput and returns the kind of failure and the
// sentence that tells the operator what to do.
func classify(rep *Report, err error) (string, string) {
	rep.throughput()
	last := rep.Steps[len(rep.Steps)-1].Name
	place, creds, where := "bucket or container", "the access key and secret, or the connection string,", "its name"
	switch {
	case strings.HasPrefix(rep.Location, "s3:"):
		place, creds, where = "bucket", "the access key and secret (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the AWS profile)", "its name and region"
	case strings.HasPrefix(rep.Location, "azure:"):
		place, creds, where = "container", "AZURE_STORAGE_CONNECTION_STRING (account name and key) or the signed-in identity,", "its name and the account"
	}
	switch {
	case errors.Is(err, backend.ErrCredentials):
		return KindCredentials, fmt.Sprintf("%s rejected the credentials (%s step): check %s and the permissions they grant on the %s", rep.Location, last, creds, place)
	case errors.Is(err, backend.ErrNoContainer):
		return KindMissing, fmt.Sprintf("the %s of %s does not exist (%s step): check %s in the configuration, or create it", place, rep.Location, last, where)
	case unreachable(err):
		at := "its endpoint"
		var op *net.OpError
		if errors.As(err, &op) && op.Addr != nil {
			at = op.Addr.String()
		}
		return KindUnreachable, fmt.Sprintf("cannot reach %s: nothing answered at %s (%s step): check the endpoint address and port, DNS, firewall and proxy settings", rep.Location, at, last)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return KindFailed, fmt.Sprintf("the test of %s was stopped during the %s step", rep.Location, last)
	}
	return KindFailed, fmt.Sprintf("%s failed the %s step", rep.Location, last)
}

// unreachable reports errors that mean no server answered: refused or
// timed-out connections and unknown host names.
func unreachable(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)
}

func (r *Report) throughput() {
	for _, s := range r.Steps {
		if !s.OK() || s.Duration <= 0 {
			continue
		}
		rate := float64(s.Bytes) / s.Duration.Seconds()
		switch s.Name {
		case "write":
			r.WriteBytesPerSec = rate
		case "read":
			r.ReadBytesPerSec = rate
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
