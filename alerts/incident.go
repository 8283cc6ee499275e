package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/internal/randid"
	"github.com/backupbot/backupbot/jobs"
)

// State is where an incident is in its life.
type State string

// Incident states.
const (
	Open         State = "open"
	Acknowledged State = "acknowledged"
	Resolved     State = "resolved"
)

// Change says what an event did to an incident.
type Change string

// Changes Observe reports.
const (
	None     Change = ""
	Opened   Change = "opened"
	Repeated Change = "repeated"
	Cleared  Change = "resolved"
)

// Ref is where an incident's root message is on one platform.
type Ref struct {
	Channel string `json:"channel"`
	ID      string `json:"id"`
}

// Incident is one problem on-call staff have to look at: a target whose
// backups fail, a storage whose verify fails. Repeats of the same problem
// update it until a good run resolves it.
type Incident struct {
	ID string `json:"id"`
	// Key says what failed: "backup:<target>", "verify:<storage>",
	// "restore-test:<storage>" (a recovery drill), "test:<storage>".
	Key     string `json:"key"`
	Kind    string `json:"kind"`
	Subject string `json:"subject"`
	State   State  `json:"state"`
	// Command is the failing job's command text, what Retry runs again.
	Command   string    `json:"command"`
	Schedule  string    `json:"schedule,omitempty"`
	Failures  int       `json:"failures"`
	LastError string    `json:"last_error,omitempty"`
	LastJob   string    `json:"last_job,omitempty"`
	OpenedAt  time.Time `json:"opened_at"`
	UpdatedAt time.Time `json:"updated_at"`

	AckedBy       string    `json:"acked_by,omitempty"`
	AckedAt       time.Time `json:"acked_at,omitzero"`
	SilencedBy    string    `json:"silenced_by,omitempty"`
	SilencedUntil time.Time `json:"silenced_until,omitzero"`
	ResolvedAt    time.Time `json:"resolved_at,omitzero"`
	// EscalatedAt is when it was escalated for going unacknowledged.
	EscalatedAt time.Time `json:"escalated_at,omitzero"`
	// ResolvedBy is the job whose success resolved it.
	ResolvedBy string `json:"resolved_by,omitempty"`

	// Roots are the root messages, by platform.
	Roots map[string]Ref `json:"roots,omitempty"`
}

// Silenced reports whether repeats are kept out of chat at t.
func (i *Incident) Silenced(t time.Time) bool { return t.Before(i.SilencedUntil) }

// Redis keys of incidents.
const (
	incidentPrefix = "backupbot:incident:"      // + id: the incident (JSON)
	openPrefix     = "backupbot:incident-open:" // + key: id of the open incident of that key
	seenPrefix     = "backupbot:incident-seen:" // + job id + kind: event already handled
	openSet        = "backupbot:incidents-open" // ids of incidents not resolved
	incidentTTL    = 90 * 24 * time.Hour
	seenTTL        = 24 * time.Hour
)

// ErrNoIncident is returned for an unknown incident id.
var ErrNoIncident = errors.New("no such incident")

// Incidents keeps incidents in Redis, so any bot process can update them and
// a restart loses none.
type Incidents struct {
	rdb    redis.UniversalClient
	parser func() commands.Parser
	now    func() time.Time
}

// NewIncidents returns the incident store on rdb; parser reads job command
// texts (it must know the configured target and storage names).
func NewIncidents(rdb redis.UniversalClient, parser func() commands.Parser) *Incidents {
	return &Incidents{rdb: rdb, parser: parser, now: time.Now}
}

// SetClock makes the store read the time from now (a simulated clock in
// tests); call it before the store is used.
func (s *Incidents) SetClock(now func() time.Time) { s.now = now }

// subject says which incident key a job's command concerns ("" for none).
func (s *Incidents) subject(ev jobs.Event) (kind, subject string) {
	cmd, err := s.parser().Parse(ev.Meta.Text)
	if err != nil {
		return "", ""
	}
	switch c := cmd.(type) {
	case *commands.Create:
		return "backup", c.Target
	case *commands.Verify:
		if c.RestoreTest {
			return "restore-test", storageLabel(c.Storage)
		}
		return "verify", storageLabel(c.Storage)
	case *commands.Test:
		return "test", storageLabel(c.Storage)
	case *commands.Copy:
		// One incident per target and destination: a good copy there
		// resolves it.
		return "copy", c.Target + " to " + c.To
	}
	return "", ""
}

func storageLabel(ref commands.StorageRef) string {
	if ref.Name == "" {
		return "default"
	}
	return ref.Name
}

// Observe applies a job's final event: a failure opens the subject's
// incident or repeats it, a success resolves it. Every event is applied by
// exactly one caller, however many bot processes observe the feed.
func (s *Incidents) Observe(ctx context.Context, ev jobs.Event) (*Incident, Change, error) {
	if !ev.Kind.Final() || ev.Kind == jobs.EventCanceled || ev.Refused {
		return nil, None, nil
	}
	kind, subject := s.subject(ev)
	if kind == "" {
		return nil, None, nil
	}
	failed := ev.Kind == jobs.EventFailed
	key := kind + ":" + subject
	fresh, err := s.rdb.SetNX(ctx, seenPrefix+ev.Meta.JobID+":"+string(ev.Kind), 1, seenTTL).Result()
	if err != nil {
		return nil, None, fmt.Errorf("incidents: mark event in Redis: %w", err)
	}
	if !fresh {
		return nil, None, nil
	}
	id, err := s.rdb.Get(ctx, openPrefix+key).Result()
	switch {
	case errors.Is(err, redis.Nil):
		if !failed {
			return nil, None, nil
		}
		inc, err := s.open(ctx, key, kind, subject, &Incident{
			Command: ev.Meta.Text, Schedule: ev.Meta.Schedule, LastError: ev.Error, LastJob: ev.Meta.JobID,
		})
		if err != nil {
			return nil, None, err
		}
		if inc == nil { // another process opened it in between: repeat that one
			return s.Observe(ctx, ev)
		}
		return inc, Opened, nil
	case err != nil:
		return nil, None, fmt.Errorf("incidents: read open incident of %s from Redis: %w", key, err)
	}
	var change Change
	inc, err := s.Update(ctx, id, func(inc *Incident) error {
		inc.LastJob = ev.Meta.JobID
		if failed {
			inc.Failures++
			inc.LastError = ev.Error
			change = Repeated
			return nil
		}
		inc.State, inc.ResolvedAt, inc.ResolvedBy, change = Resolved, s.now().UTC(), ev.Meta.JobID, Cleared
		return nil
	})
	if err != nil {
		return nil, None, err
	}
	if change == Cleared {
		if err := s.rdb.Del(ctx, openPrefix+key).Err(); err != nil {
			return nil, None, fmt.Errorf("incidents: close %s in Redis: %w", key, err)
		}
		s.rdb.SRem(ctx, openSet, inc.ID)
	}
	return inc, change, nil
}

// Get returns an incident.
func (s *Incidents) Get(ctx context.Context, id string) (*Incident, error) {
	b, err := s.rdb.Get(ctx, incidentPrefix+id).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("incident %s: %w (it may have expired)", id, ErrNoIncident)
	}
	if err != nil {
		return nil, fmt.Errorf("incidents: read %s from Redis: %w", id, err)
	}
	var inc Incident
	if err := json.Unmarshal(b, &inc); err != nil {
		return nil, fmt.Errorf("incidents: decode %s: %w", id, err)
	}
	return &inc, nil
}

// Open counts incidents not yet resolved.
func (s *Incidents) Open(ctx context.Context) (int64, error) {
	return s.rdb.SCard(ctx, openSet).Result()
}

// Update changes an incident atomically (optimistic: retried when another
// process changed it meanwhile).
func (s *Incidents) Update(ctx context.Context, id string, fn func(*Incident) error) (*Incident, error) {
	var out *Incident
	for range 10 {
		err := s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			inc, err := s.Get(ctx, id)
			if err != nil {
				return err
			}
			if err := fn(inc); err != nil {
				return err
			}
			inc.UpdatedAt = s.now().UTC()
			b, err := json.Marshal(inc)
			if err != nil {
				return fmt.Errorf("incidents: encode %s: %w", id, err)
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, incidentPrefix+id, b, incidentTTL)
				return nil
			})
			out = inc
			return err
		}, incidentPrefix+id)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return out, nil
	}
	return nil, fmt.Errorf("incidents: %s changed too often to update; try again", id)
}

// Acknowledge records who took the incident on.
func (s *Incidents) Acknowledge(ctx context.Context, id, who string) (*Incident, error) {
	return s.Update(ctx, id, func(inc *Incident) error {
		if inc.State == Resolved {
			return fmt.Errorf("incident %s is already resolved", id)
		}
		if inc.State == Acknowledged {
			return fmt.Errorf("incident %s was already acknowledged by %s", id, inc.AckedBy)
		}
		inc.State, inc.AckedBy, inc.AckedAt = Acknowledged, who, s.now().UTC()
		return nil
	})
}

// Silence keeps repeats of the incident out of chat for d.
func (s *Incidents) Silence(ctx context.Context, id, who string, d time.Duration) (*Incident, error) {
	return s.Update(ctx, id, func(inc *Incident) error {
		if inc.State == Resolved {
			return fmt.Errorf("incident %s is already resolved", id)
		}
		inc.SilencedBy, inc.SilencedUntil = who, s.now().Add(d).UTC()
		return nil
	})
}

// Escalate marks every open, unacknowledged, not yet escalated incident
// opened more than after ago as escalated and returns those: each is
// returned to exactly one caller.
func (s *Incidents) Escalate(ctx context.Context, after time.Duration) ([]*Incident, error) {
	ids, err := s.rdb.SMembers(ctx, openSet).Result()
	if err != nil {
		return nil, fmt.Errorf("incidents: list open incidents: %w", err)
	}
	var out []*Incident
	now := s.now()
	for _, id := range ids {
		mine := false
		inc, err := s.Update(ctx, id, func(inc *Incident) error {
			mine = false
			if inc.State == Open && inc.EscalatedAt.IsZero() && now.Sub(inc.OpenedAt) > after {
				inc.EscalatedAt, mine = now.UTC(), true
			}
			return nil
		})
		if err != nil {
			if errors.Is(err, ErrNoIncident) {
				s.rdb.SRem(ctx, openSet, id)
				continue
			}
			return out, err
		}
		if mine {
			out = append(out, inc)
		}
	}
	return out, nil
}

// SetRoot records the incident's root message on a platform.
func (s *Incidents) SetRoot(ctx context.Context, id, platform string, ref Ref) (*Incident, error) {
	return s.Update(ctx, id, func(inc *Incident) error {
		if inc.Roots == nil {
			inc.Roots = map[string]Ref{}
		}
		inc.Roots[platform] = ref
		return nil
	})
}

// open opens the incident of key unless one is open; nil when one was.
func (s *Incidents) open(ctx context.Context, key, kind, subject string, proto *Incident) (*Incident, error) {
	now := s.now().UTC()
	inc := *proto
	inc.ID, inc.Key, inc.Kind, inc.Subject, inc.State, inc.Failures, inc.OpenedAt, inc.UpdatedAt = newID(), key, kind, subject, Open, 1, now, now
	ok, err := s.rdb.SetNX(ctx, openPrefix+key, inc.ID, incidentTTL).Result()
	if err != nil {
		return nil, fmt.Errorf("incidents: open %s in Redis: %w", key, err)
	}
	if !ok {
		return nil, nil
	}
	if err := s.put(ctx, &inc); err != nil {
		return nil, err
	}
	return &inc, nil
}

// resolve resolves the open incident of key, by what (nil when none was
// open, or another process resolved it); a lastJob not "" is the job that
// resolved it.
func (s *Incidents) resolve(ctx context.Context, key, by, lastJob string) (*Incident, error) {
	id, err := s.rdb.Get(ctx, openPrefix+key).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("incidents: read open incident of %s from Redis: %w", key, err)
	}
	// Only the process that deletes the open marker resolves it.
	if n, err := s.rdb.Del(ctx, openPrefix+key).Result(); err != nil || n == 0 {
		return nil, err
	}
	inc, err := s.Update(ctx, id, func(inc *Incident) error {
		inc.State, inc.ResolvedAt, inc.ResolvedBy = Resolved, s.now().UTC(), by
		if lastJob != "" {
			inc.LastJob = lastJob
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.rdb.SRem(ctx, openSet, inc.ID)
	return inc, nil
}

func (s *Incidents) put(ctx context.Context, inc *Incident) error {
	b, err := json.Marshal(inc)
	if err != nil {
		return fmt.Errorf("incidents: encode %s: %w", inc.ID, err)
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, incidentPrefix+inc.ID, b, incidentTTL)
		p.SAdd(ctx, openSet, inc.ID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("incidents: store %s in Redis: %w", inc.ID, err)
	}
	return nil
}

func newID() string { return "inc-" + randid.Hex(4) }
