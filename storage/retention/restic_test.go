package retention_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/poly1305" //nolint:staticcheck // restic's MAC is Poly1305-AES; this test writes restic's format.

	"github.com/backupbot/backupbot/storage/retention"
)

// resticRepo is a restic repository the test writes snapshot files into
// directly (restic's own format: AES-256-CTR + Poly1305-AES under the
// master key `restic cat masterkey` prints), so that hundreds of
// snapshots with given times cost no restic run each.
type resticRepo struct {
	t      *testing.T
	dir    string
	env    []string
	encKey []byte
	macK   []byte
	macR   []byte
}

func newResticRepo(t *testing.T) *resticRepo {
	t.Helper()
	bin, err := exec.LookPath("restic")
	if err != nil {
		// Not a skip: make test installs restic (scripts/services/restic.sh).
		t.Fatalf("restic is not installed: run `bash scripts/services/restic.sh start` (make test does): %v", err)
	}
	r := &resticRepo{t: t, dir: filepath.Join(t.TempDir(), "restic")}
	r.env = append(os.Environ(), "RESTIC_PASSWORD=retention-test", "RESTIC_REPOSITORY="+r.dir, "TZ=UTC", "RESTIC_CACHE_DIR="+t.TempDir())
	r.run(bin, "init", "--repository-version", "1")
	out := r.run(bin, "cat", "masterkey")
	var mk struct {
		MAC struct {
			K []byte `json:"k"`
			R []byte `json:"r"`
		} `json:"mac"`
		Encrypt []byte `json:"encrypt"`
	}
	if err := json.Unmarshal(out, &mk); err != nil {
		t.Fatalf("restic cat masterkey: %v: %s", err, out)
	}
	r.encKey, r.macK, r.macR = mk.Encrypt, mk.MAC.K, mk.MAC.R
	return r
}

func (r *resticRepo) run(args ...string) []byte {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = r.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// seal encrypts like restic: IV ‖ AES-CTR(plaintext) ‖ Poly1305-AES(ciphertext).
func (r *resticRepo) seal(plain []byte) []byte {
	iv := make([]byte, 16)
	_, _ = rand.Read(iv)
	block, err := aes.NewCipher(r.encKey)
	if err != nil {
		r.t.Fatal(err)
	}
	ct := make([]byte, len(plain))
	cipher.NewCTR(block, iv).XORKeyStream(ct, plain)
	mb, err := aes.NewCipher(r.macK)
	if err != nil {
		r.t.Fatal(err)
	}
	var key [32]byte
	copy(key[:16], r.macR)
	mb.Encrypt(key[16:], iv)
	var mac [16]byte
	poly1305.Sum(&mac, ct, &key)
	out := append(iv, ct...)
	return append(out, mac[:]...)
}

// add writes a snapshot of host with time t (in t's zone) and returns its ID.
func (r *resticRepo) add(host string, t time.Time, tags []string) string {
	sn := map[string]any{
		"time": t.Format(time.RFC3339Nano), "tree": strings.Repeat("ab", 32), "paths": []string{"/data"},
		"hostname": host, "username": "test",
	}
	if len(tags) > 0 {
		sn["tags"] = tags
	}
	plain, _ := json.Marshal(sn)
	data := r.seal(plain)
	sum := sha256.Sum256(data)
	id := hex.EncodeToString(sum[:])
	if err := os.WriteFile(filepath.Join(r.dir, "snapshots", id), data, 0o600); err != nil {
		r.t.Fatal(err)
	}
	return id
}

// forget runs `restic forget --dry-run --json` for host and returns the
// IDs restic keeps.
func (r *resticRepo) forget(host string, flags []string) []string {
	args := append([]string{"restic", "forget", "--dry-run", "--json", "--host", host}, flags...)
	out := r.run(args...)
	if i := bytes.IndexByte(out, '['); i > 0 {
		out = out[i:]
	}
	var groups []struct {
		Keep []struct {
			ID string `json:"id"`
		} `json:"keep"`
	}
	if err := json.Unmarshal(out, &groups); err != nil {
		r.t.Fatalf("restic forget output: %v: %.500s", err, out)
	}
	var ids []string
	for _, g := range groups {
		for _, k := range g.Keep {
			ids = append(ids, k.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

// TestPolicyKeepsWhatResticKeeps runs restic's forget on the same
// timestamps for every case restic's rules cover and compares kept sets.
func TestPolicyKeepsWhatResticKeeps(t *testing.T) {
	rr := newResticRepo(t)
	type job struct {
		c     tcase
		host  string
		idMap map[string]string // restic ID -> our ID
	}
	var jobs []job
	for i, c := range cases(t) {
		if c.restic == nil {
			continue
		}
		j := job{c: c, host: fmt.Sprintf("case%d", i), idMap: map[string]string{}}
		loc := c.p.Location
		if loc == nil {
			loc = time.UTC
		}
		for _, s := range c.snaps {
			// Written in the policy's zone: restic's calendar is the
			// zone each snapshot's time carries.
			j.idMap[rr.add(j.host, s.Time.In(loc), nil)] = s.ID
		}
		jobs = append(jobs, j)
	}
	if len(jobs) < 8 {
		t.Fatalf("only %d restic-comparable cases", len(jobs))
	}
	for _, j := range jobs {
		t.Run(j.c.name, func(t *testing.T) {
			var resticKept []string
			for _, id := range rr.forget(j.host, j.c.restic) {
				ours, ok := j.idMap[id]
				if !ok {
					t.Fatalf("restic kept %s, which this case did not write", id)
				}
				resticKept = append(resticKept, ours)
			}
			sort.Strings(resticKept)
			got := kept(retention.Apply(j.c.snaps, j.c.p, now))
			if !slices.Equal(got, resticKept) {
				t.Fatalf("we keep %d, restic keeps %d\n ours   %v\n restic %v", len(got), len(resticKept), got, resticKept)
			}
			if len(got) == len(j.c.snaps) {
				t.Fatalf("both keep everything (%d): the case tests nothing", len(got))
			}
			t.Logf("%d of %d kept, as restic", len(got), len(j.c.snaps))
		})
	}
}
