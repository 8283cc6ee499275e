// Package audit is the append-only record of everything the bot is asked
// and does: every command with its decision and the rule behind it, every
// approval, denial and withdrawal, every job start and outcome, each with
// platform, user, channel, time and job id. Each entry goes to a capped
// Redis stream (shared by every process, read by `/backup audit`) and as a
// JSON line to a local file opened O_APPEND and synced per entry. The API
// can add and read entries; nothing in it edits or deletes one. Every
// string is passed through a Redactor before it is written.
package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/internal/randid"
	"github.com/backupbot/backupbot/policy"
	"github.com/redis/go-redis/v9"
)

// Kind is what happened.
type Kind string

// Entry kinds.
const (
	// Command: a command was received and decided (Allowed, Rule, Reason).
	Command Kind = "command"
	// Invalid: chat text that did not parse (Error says why).
	Invalid Kind = "invalid"
	// Confirmed: the requester confirmed a previewed command.
	Confirmed Kind = "confirmed"
	// ApprovalRequested: a command was sent for approval (ApprovalID).
	ApprovalRequested Kind = "approval_requested"
	// Approved, Denied, Withdrawn: an approval request was decided; the
	// user is who decided.
	Approved  Kind = "approved"
	Denied    Kind = "denied"
	Withdrawn Kind = "withdrawn"
	// ApprovalRefused: an approve/deny/withdraw click was refused (Error
	// says why: self-approval, not an approver, expired, replayed...).
	ApprovalRefused Kind = "approval_refused"
	// JobStarted, JobSucceeded, JobFailed, JobCanceled: a worker ran a job.
	JobStarted   Kind = "job_started"
	JobSucceeded Kind = "job_succeeded"
	JobFailed    Kind = "job_failed"
	JobCanceled  Kind = "job_canceled"
	// JobRetried: a job is run again (after a failure that a retry may fix,
	// or after its worker died); Detail says which attempt comes next.
	JobRetried Kind = "job_retried"
	// JobRefused: the worker's policy re-check refused a queued job.
	JobRefused Kind = "job_refused"
	// PolicyReloaded: a new policy was put in force (or refused: Error).
	PolicyReloaded Kind = "policy_reloaded"
)

// Entry is one audit record. Record fills ID and Time.
type Entry struct {
	// ID is unique and sorts by time; the stream and the file carry the same one.
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	Kind Kind      `json:"kind"`
	// User is who asked, clicked, or whose job ran.
	User    policy.Identity `json:"user"`
	Channel string          `json:"channel,omitempty"`
	// Command is the rendered command text (commands.Render), never raw
	// input with environment or secrets.
	Command string `json:"command,omitempty"`
	Action  string `json:"action,omitempty"`
	// Allowed, Rule and Reason are the decision (for Command entries).
	Allowed    *bool  `json:"allowed,omitempty"`
	Rule       string `json:"rule,omitempty"`
	Reason     string `json:"reason,omitempty"`
	JobID      string `json:"job_id,omitempty"`
	ApprovalID string `json:"approval_id,omitempty"`
	// Error says why something failed or was refused.
	Error string `json:"error,omitempty"`
	// Detail is free text (a result summary, a plan hash).
	Detail string `json:"detail,omitempty"`
}

// Decided builds the Command entry for a decision: text is the rendered
// command, cmd the typed one.
func Decided(user policy.Identity, channel, text string, cmd commands.Command, d policy.Decision) Entry {
	allowed := d.Allowed
	e := Entry{Kind: Command, User: user, Channel: channel, Command: text, Allowed: &allowed, Rule: d.Rule, Reason: d.Reason}
	if cmd != nil {
		e.Action = string(cmd.Action())
	}
	switch {
	case d.NeedsApproval:
		e.Detail = "needs approval"
	case d.NeedsConfirmation:
		e.Detail = "needs confirmation"
	}
	return e
}

// Options configure a Log.
type Options struct {
	// Prefix starts the stream's key (PREFIX + "audit"). Default "backupbot:".
	Prefix string
	// File is the JSON-lines file; "" or "-" writes no file.
	File string
	// StreamMaxLen caps the stream (approximately). Default 100000.
	StreamMaxLen int64
	// Secrets are values redacted from every entry (see SecretsFromEnv).
	Secrets []string
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger reports write failures. Default slog.Default().
	Logger *slog.Logger
}

// OptionsFromConfig turns the policy's audit section into Options, reading
// the secrets to redact from the environment and the password files.
func OptionsFromConfig(c policy.AuditConfig) Options {
	return Options{File: c.File, StreamMaxLen: c.StreamMaxLen, Secrets: SecretsFromEnv(c, os.Getenv)}
}

// Log is the audit log.
type Log struct {
	rdb      redis.UniversalClient
	stream   string
	maxLen   int64
	redactor *Redactor
	now      func() time.Time
	log      *slog.Logger

	mu   sync.Mutex // one line at a time, in order
	file *os.File
	path string
}

// New opens the audit log. rdb may be nil (backupctl, no Redis): entries
// then go to the file only and Query reads the file.
func New(rdb redis.UniversalClient, o Options) (*Log, error) {
	l := &Log{rdb: rdb, stream: o.Prefix, maxLen: o.StreamMaxLen, redactor: NewRedactor(o.Secrets), now: o.Now, log: o.Logger}
	if l.stream == "" {
		l.stream = "backupbot:"
	}
	l.stream += "audit"
	if l.maxLen <= 0 {
		l.maxLen = policy.DefaultStreamMaxLen
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	if o.File != "" && o.File != "-" {
		if err := os.MkdirAll(filepath.Dir(o.File), 0o750); err != nil {
			return nil, fmt.Errorf("creating the audit log directory for %s: %w", o.File, err)
		}
		f, err := os.OpenFile(o.File, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("opening the audit log %s for appending: %w", o.File, err)
		}
		l.file, l.path = f, o.File
	}
	if rdb == nil && l.file == nil {
		return nil, errors.New("audit log: neither Redis nor a file was given; set policy.audit.file")
	}
	return l, nil
}

// Close closes the file.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file == nil {
		return nil
	}
	err := l.file.Close()
	l.file = nil
	return err
}

// Record appends e (with ID and Time filled in and every string redacted)
// to the file, synced, and to the Redis stream. It writes to both even if
// one fails, and returns the failures joined.
func (l *Log) Record(ctx context.Context, e Entry) error {
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	e.Time = e.Time.UTC()
	e.ID = newID(e.Time)
	e = l.redact(e)
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encoding audit entry: %w", err)
	}
	var errs []error
	if err := l.appendFile(line); err != nil {
		errs = append(errs, err)
	}
	if l.rdb != nil {
		// An entry is written even when the caller's context has ended.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		err := l.rdb.XAdd(ctx, &redis.XAddArgs{
			Stream: l.stream, MaxLen: l.maxLen, Approx: true,
			Values: []any{"entry", string(line)},
		}).Err()
		if err != nil {
			errs = append(errs, fmt.Errorf("adding audit entry %s to Redis stream %s: %w", e.ID, l.stream, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		l.log.Error("audit entry not fully written", "id", e.ID, "kind", e.Kind, "err", err)
		return err
	}
	return nil
}

func (l *Log) appendFile(line []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file == nil {
		if l.path == "" {
			return nil
		}
		return fmt.Errorf("audit log %s is closed", l.path)
	}
	// One write per entry: with O_APPEND the line lands whole at the end,
	// even with several processes appending to the same file.
	if _, err := l.file.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("appending to audit log %s: %w", l.path, err)
	}
	if err := l.file.Sync(); err != nil {
		return fmt.Errorf("syncing audit log %s: %w", l.path, err)
	}
	return nil
}

func (l *Log) redact(e Entry) Entry {
	r := l.redactor.Redact
	e.User.UserID, e.User.UserName = r(e.User.UserID), r(e.User.UserName)
	groups := make([]string, len(e.User.Groups))
	for i, g := range e.User.Groups {
		groups[i] = r(g)
	}
	if len(groups) > 0 {
		e.User.Groups = groups
	}
	e.Channel, e.Command, e.Action = r(e.Channel), r(e.Command), r(e.Action)
	e.Rule, e.Reason, e.JobID, e.ApprovalID = r(e.Rule), r(e.Reason), r(e.JobID), r(e.ApprovalID)
	e.Error, e.Detail = r(e.Error), r(e.Detail)
	return e
}

// Filter selects entries for Query.
type Filter struct {
	// Since keeps entries at or after this time (zero: no bound).
	Since time.Time
	// User keeps entries whose user id, name, "@name" or "platform:id"
	// equals this (case-insensitive for names).
	User string
	// Kinds keeps only these kinds (empty: all).
	Kinds []Kind
	// JobID keeps only entries of this job.
	JobID string
	// Limit is the most entries returned (the newest ones). Default 50.
	Limit int
}

func (f Filter) keep(e Entry) bool {
	if !f.Since.IsZero() && e.Time.Before(f.Since) {
		return false
	}
	if f.JobID != "" && e.JobID != f.JobID {
		return false
	}
	if len(f.Kinds) > 0 {
		found := false
		for _, k := range f.Kinds {
			found = found || k == e.Kind
		}
		if !found {
			return false
		}
	}
	if f.User != "" {
		u := strings.TrimPrefix(f.User, "@")
		if u != e.User.UserID && !strings.EqualFold(u, e.User.UserName) &&
			!strings.EqualFold(f.User, e.User.Platform+":"+e.User.UserID) {
			return false
		}
	}
	return true
}

// Query returns the newest entries matching f, oldest first. It reads the
// Redis stream (or, without Redis, the file).
func (l *Log) Query(ctx context.Context, f Filter) ([]Entry, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	if l.rdb == nil {
		all, err := ReadFile(l.path)
		if err != nil {
			return nil, err
		}
		var out []Entry
		for i := len(all) - 1; i >= 0 && len(out) < f.Limit; i-- {
			if f.keep(all[i]) {
				out = append(out, all[i])
			}
		}
		reverse(out)
		return out, nil
	}
	minID := "-"
	if !f.Since.IsZero() {
		minID = strconv.FormatInt(f.Since.UnixMilli(), 10)
	}
	const page = 500
	var out []Entry
	maxID := "+"
	for len(out) < f.Limit {
		msgs, err := l.rdb.XRevRangeN(ctx, l.stream, maxID, minID, page).Result()
		if err != nil {
			return nil, fmt.Errorf("reading audit stream %s from Redis: %w", l.stream, err)
		}
		for _, m := range msgs {
			raw, _ := m.Values["entry"].(string)
			var e Entry
			if err := json.Unmarshal([]byte(raw), &e); err != nil {
				return nil, fmt.Errorf("audit stream entry %s is unreadable: %w", m.ID, err)
			}
			if f.keep(e) {
				out = append(out, e)
				if len(out) == f.Limit {
					break
				}
			}
		}
		if len(msgs) < page {
			break
		}
		maxID = "(" + msgs[len(msgs)-1].ID
	}
	reverse(out)
	return out, nil
}

// ReadFile reads every entry of an audit JSON-lines file, in file order.
func ReadFile(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening audit log %s: %w", path, err)
	}
	defer f.Close()
	var out []Entry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for n := 1; sc.Scan(); n++ {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("audit log %s line %d is not a JSON entry: %w", path, n, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading audit log %s: %w", path, err)
	}
	return out, nil
}

func reverse(es []Entry) {
	for i, j := 0, len(es)-1; i < j; i, j = i+1, j-1 {
		es[i], es[j] = es[j], es[i]
	}
}

// newID is the entry time in milliseconds (hex, fixed width, so ids sort
// by time) and 6 random bytes.
func newID(t time.Time) string {
	return fmt.Sprintf("%012x-%s", t.UnixMilli(), randid.Hex(6))
}
