package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/robfig/cron/v3"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/internal/randid"
	"github.com/backupbot/backupbot/internal/tick"
	"github.com/backupbot/backupbot/policy"
)

// ScheduleEntry is one recurring backup, as `schedule --action create`
// stored it in Redis (hash backupbot:schedules, one JSON value per name).
type ScheduleEntry struct {
	Name string `json:"name"`
	Cron string `json:"cron"`
	// Kind is what it runs (empty: a backup).
	Kind      commands.ScheduleKind `json:"kind,omitempty"`
	Type      commands.BackupType   `json:"type"`
	Target    string                `json:"target"`
	Storage   commands.StorageRef   `json:"storage"`
	Retention commands.Days         `json:"retention,omitempty"`
	// Owner is who created the schedule; its backups run as them (and stop
	// running, refused by the policy re-check, if they lose the role).
	Owner     policy.Identity `json:"owner"`
	Channel   string          `json:"channel,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	// Next is when it fires next; LastRun and LastJob say when it last did.
	Next    time.Time `json:"next"`
	LastRun time.Time `json:"last_run,omitzero"`
	LastJob string    `json:"last_job,omitempty"`
}

const schedulesKey = "backupbot:schedules"

// parseCron accepts what the command language accepts: five fields or a
// descriptor (@daily, @every 1h).
func parseCron(expr string) (cron.Schedule, error) {
	s, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, permanent(fmt.Errorf("cron expression %q: %w (use five fields like \"0 2 * * *\" or @daily, @every 6h)", expr, err))
	}
	return s, nil
}

// scheduleStore reads and writes schedules.
type scheduleStore struct{ rdb redis.UniversalClient }

func (s scheduleStore) get(ctx context.Context, name string) (*ScheduleEntry, error) {
	v, err := s.rdb.HGet(ctx, schedulesKey, name).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read schedule %s from Redis: %w", name, err)
	}
	var e ScheduleEntry
	if err := json.Unmarshal([]byte(v), &e); err != nil {
		return nil, fmt.Errorf("decode schedule %s: %w", name, err)
	}
	return &e, nil
}

func (s scheduleStore) put(ctx context.Context, e *ScheduleEntry, onlyNew bool) (bool, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return false, fmt.Errorf("encode schedule %s: %w", e.Name, err)
	}
	if onlyNew {
		return s.rdb.HSetNX(ctx, schedulesKey, e.Name, b).Result()
	}
	return true, s.rdb.HSet(ctx, schedulesKey, e.Name, b).Err()
}

func (s scheduleStore) all(ctx context.Context) ([]*ScheduleEntry, error) {
	m, err := s.rdb.HGetAll(ctx, schedulesKey).Result()
	if err != nil {
		return nil, fmt.Errorf("read schedules from Redis: %w", err)
	}
	out := make([]*ScheduleEntry, 0, len(m))
	for _, v := range m {
		var e ScheduleEntry
		if json.Unmarshal([]byte(v), &e) == nil {
			out = append(out, &e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// schedule creates, updates, deletes or lists schedules.
func (w *Worker) schedule(ctx context.Context, j *Job, c *commands.Schedule) (*Result, error) {
	store := scheduleStore{w.rdb}
	now := w.now().UTC()
	switch c.Op {
	case commands.ScheduleList, "":
		all, err := store.all(ctx)
		if err != nil {
			return nil, err
		}
		return w.scheduleList(ctx, all), nil
	case commands.ScheduleDelete:
		e, err := store.get(ctx, c.Name)
		if err != nil {
			return nil, err
		}
		if e != nil {
			if err := w.mayChangeSchedule(e, j.Meta.Requester, "delete"); err != nil {
				return nil, err
			}
		}
		n, err := w.rdb.HDel(ctx, schedulesKey, c.Name).Result()
		if err != nil {
			return nil, fmt.Errorf("delete schedule %s in Redis: %w", c.Name, err)
		}
		if n == 0 {
			return nil, permanent(fmt.Errorf("there is no schedule %q (see schedule --action list)", c.Name))
		}
		return &Result{Summary: fmt.Sprintf("Schedule %s deleted; backups it made are kept", c.Name)}, nil
	case commands.ScheduleCreate:
		if c.Name == "" || c.Cron == "" {
			return nil, permanent(fmt.Errorf("schedule create needs --name and --cron"))
		}
		sched, err := parseCron(string(c.Cron))
		if err != nil {
			return nil, err
		}
		e := &ScheduleEntry{
			Name: c.Name, Cron: string(c.Cron), Kind: c.Kind, Type: c.Type, Target: c.Target, Storage: c.Storage, Retention: c.Retention,
			Owner: j.Meta.Requester, Channel: j.Meta.Channel, CreatedAt: now, UpdatedAt: now, Next: sched.Next(now),
		}
		if e.Type == "" {
			e.Type = commands.TypeIncremental
		}
		if e.Target == "" {
			e.Target = "all"
		}
		if _, err := w.config().ResolveTargets(e.Target); err != nil {
			return nil, badInput(err)
		}
		ok, err := store.put(ctx, e, true)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, permanent(fmt.Errorf("schedule %q already exists: change it with --action update", c.Name))
		}
		return scheduleResult("created", e), nil
	case commands.ScheduleUpdate:
		e, err := store.get(ctx, c.Name)
		if err != nil {
			return nil, err
		}
		if e == nil {
			return nil, permanent(fmt.Errorf("there is no schedule %q (create it with --action create)", c.Name))
		}
		if err := w.mayChangeSchedule(e, j.Meta.Requester, "update"); err != nil {
			return nil, err
		}
		// It runs as whoever changed it last (and is re-checked as them).
		e.Owner = j.Meta.Requester
		if j.Meta.Channel != "" {
			e.Channel = j.Meta.Channel
		}
		if c.Cron != "" {
			sched, err := parseCron(string(c.Cron))
			if err != nil {
				return nil, err
			}
			e.Cron, e.Next = string(c.Cron), sched.Next(now)
		}
		if c.Kind != "" {
			e.Kind = c.Kind
		}
		if c.Type != "" {
			e.Type = c.Type
		}
		if c.Target != "" {
			if _, err := w.config().ResolveTargets(c.Target); err != nil {
				return nil, badInput(err)
			}
			e.Target = c.Target
		}
		if c.Storage != (commands.StorageRef{}) {
			e.Storage = c.Storage
		}
		if c.Retention != 0 {
			e.Retention = c.Retention
		}
		e.UpdatedAt = now
		if _, err := store.put(ctx, e, false); err != nil {
			return nil, err
		}
		return scheduleResult("updated", e), nil
	}
	return nil, permanent(fmt.Errorf("unknown schedule operation %q: use create, update, delete or list", c.Op))
}

// command is the work one firing of the schedule enqueues.
func (e *ScheduleEntry) command() commands.Command {
	switch e.Kind {
	case commands.ScheduleVerify, commands.ScheduleVerifyDeep:
		return &commands.Verify{All: true, Deep: e.Kind == commands.ScheduleVerifyDeep, Storage: e.Storage}
	case commands.ScheduleRestoreTest:
		return &commands.Verify{All: true, RestoreTest: true, Storage: e.Storage}
	case commands.ScheduleCleanup:
		// As the owner could type it (confirmed when they made the
		// schedule): the policy re-check sees the same command.
		return &commands.Cleanup{Target: oneTarget(e.Target), Storage: e.Storage}
	}
	return &commands.Create{Type: e.Type, Target: e.Target, Storage: e.Storage, Retention: e.Retention, Compress: true}
}

// what says in words what the schedule runs.
func (e *ScheduleEntry) what() string {
	switch e.Kind {
	case commands.ScheduleVerify:
		return "quick verify of every backup"
	case commands.ScheduleVerifyDeep:
		return "deep verify of every backup"
	case commands.ScheduleCleanup:
		return "cleanup of " + e.Target + " by the retention policies"
	case commands.ScheduleRestoreTest:
		return "recovery drill of each target's newest backup"
	}
	return fmt.Sprintf("%s backup of %s", e.Type, e.Target)
}

// mayChangeSchedule lets only a schedule's owner or an admin (a holder of
// the policy's admin role) update or delete it. Without a policy every
// requester may, as every job passes then.
func (w *Worker) mayChangeSchedule(e *ScheduleEntry, who policy.Identity, verb string) error {
	if e.Owner.Same(who) || w.deps.Policy == nil {
		return nil
	}
	pol := w.deps.Policy()
	roles, ok := pol.(interface {
		RolesOf(policy.Identity) []string
	})
	if pol == nil || !ok || roles == (*policy.Policy)(nil) {
		return nil
	}
	if slices.Contains(roles.RolesOf(who), "admin") {
		return nil
	}
	return permanent(fmt.Errorf("not allowed: schedule %s belongs to %s; only its owner or an admin may %s it", e.Name, e.Owner.Display(), verb))
}

func scheduleFields(e *ScheduleEntry) []Field {
	f := []Field{{"Name", e.Name}, {"Cron", e.Cron}, {"Runs", e.what()}, {"Type", string(e.Type)}, {"Target", e.Target}}
	if e.Storage.Name != "" {
		f = append(f, Field{"Storage", e.Storage.Name})
	}
	if e.Retention > 0 {
		f = append(f, Field{"Retention", fmt.Sprintf("%d days", e.Retention)})
	}
	return append(f, Field{"Next run", e.Next.Local().Format("2006-01-02 15:04 MST")}, Field{"Owner", e.Owner.Display()})
}

func scheduleResult(verb string, e *ScheduleEntry) *Result {
	return &Result{
		Summary: fmt.Sprintf("Schedule %s %s: %s at %q, next run %s", e.Name, verb, e.what(), e.Cron, e.Next.Local().Format("2006-01-02 15:04 MST")),
		Fields:  scheduleFields(e),
		Data:    rawJSON(e),
	}
}

// scheduleList shows every schedule, the built-in retention one too, with
// its next run and how its last run ended; a failed last run stands out.
func (w *Worker) scheduleList(ctx context.Context, all []*ScheduleEntry) *Result {
	type row struct {
		cells  []string
		failed bool
	}
	var rows []row
	failed := 0
	store := statusStore{w.rdb}
	for _, e := range all {
		last := "never"
		if !e.LastRun.IsZero() {
			last = e.LastRun.Local().Format("01-02 15:04") + " (job " + e.LastJob + ")"
		}
		result, bad := lastResult(ctx, store, nonEmpty(e.LastJob))
		st := e.Storage.Name
		if st == "" {
			st = "default"
		}
		typ := string(e.Type)
		if e.Kind != "" && e.Kind != commands.ScheduleBackup {
			typ = string(e.Kind)
		}
		rows = append(rows, row{[]string{e.Name, e.Cron, typ, e.Target, st, e.Next.Local().Format("01-02 15:04"), last, result, e.Owner.Display()}, bad})
	}
	if cfg := w.config(); cfg.Retention.Cron() != "" {
		rs, err := loadRetentionState(ctx, w.rdb)
		if err == nil {
			next, last := "at the scheduler's start", "never"
			if !rs.Next.IsZero() {
				next = rs.Next.Local().Format("01-02 15:04")
			}
			if !rs.LastRun.IsZero() {
				last = rs.LastRun.Local().Format("01-02 15:04") + " (jobs " + strings.Join(rs.LastJobs, ", ") + ")"
			}
			result, bad := lastResult(ctx, store, rs.LastJobs)
			rows = append(rows, row{[]string{RetentionSchedule + " (built-in)", cfg.Retention.Cron(), "cleanup", "all", "every", next, last, result, "system"}, bad})
		}
	}
	res := &Result{Summary: fmt.Sprintf("%d schedules", len(all)), Data: rawJSON(all)}
	if len(all) == 0 {
		res.Summary = "No schedules yet: add one with schedule --action create --name daily --cron \"0 2 * * *\""
	}
	if len(rows) == 0 {
		return res
	}
	cells := make([][]string, len(rows))
	for i, r := range rows {
		cells[i] = r.cells
		if r.failed {
			failed++
			cells[i][0] = "⚠ " + cells[i][0]
		}
	}
	if failed > 0 {
		res.Summary += fmt.Sprintf(", %d failed last time (marked ⚠)", failed)
	}
	res.Fields = []Field{{"Schedules", strings.TrimRight(table([]string{"NAME", "CRON", "TYPE", "TARGET", "STORAGE", "NEXT", "LAST", "RESULT", "OWNER"}, cells), "\n")}}
	return res
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// SchedulerOptions tune a Scheduler; the zero value is what the service uses.
type SchedulerOptions struct {
	// Tick is how often due schedules are checked (default 1 s).
	Tick time.Duration
	// LeaderTTL is how long leadership lasts without renewal (default 15 s):
	// when the leader dies, another process takes over within this time.
	LeaderTTL time.Duration
	Logger    *slog.Logger
	// Config, when set, gives the retention block: the built-in retention
	// schedule fires on retention.schedule (see fireRetention).
	Config func() *config.File
	// Now is the scheduler's clock (nil: time.Now), for tests.
	Now func() time.Time
}

// Scheduler fires the stored schedules: at each schedule's time it
// enqueues a create on the scheduled queue as the schedule's owner. Run it
// in every process that should be able to (serve and worker do): one
// leader, elected through Redis, does the firing, and each firing is also
// claimed in Redis, so a schedule fires once per time even across a
// leadership change. Runs missed while no scheduler was running are
// coalesced into one run when it comes back.
type Scheduler struct {
	client *Client
	rdb    redis.UniversalClient
	store  scheduleStore
	o      SchedulerOptions
	token  string
}

const leaderKey = "backupbot:scheduler:leader"

// NewScheduler returns a Scheduler that enqueues through c.
func NewScheduler(c *Client, rdb redis.UniversalClient, o SchedulerOptions) *Scheduler {
	if o.Tick <= 0 {
		o.Tick = time.Second
	}
	if o.LeaderTTL <= 0 {
		o.LeaderTTL = 15 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Scheduler{client: c, rdb: rdb, store: scheduleStore{rdb}, o: o, token: randid.Hex(8)}
}

// renewScript extends leadership only if this process still holds it.
var renewScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end
return 0`)

// releaseScript gives leadership up only if this process holds it.
var releaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end
return 0`)

// Run fires schedules until ctx is done, then gives up leadership and
// returns nil. Redis errors are logged and retried.
func (s *Scheduler) Run(ctx context.Context) error {
	leader := false
	defer func() {
		if leader {
			_ = releaseScript.Run(context.WithoutCancel(ctx), s.rdb, []string{leaderKey}, s.token).Err()
		}
	}()
	beat := func() {
		now := time.Now()
		if s.o.Now != nil {
			now = s.o.Now()
		}
		isLeader, err := s.lead(ctx)
		if err != nil && ctx.Err() == nil {
			s.o.Logger.Warn("scheduler cannot reach Redis; retrying", "err", err)
		}
		if isLeader != leader {
			s.o.Logger.Info("scheduler leadership changed", "leader", isLeader)
			leader = isLeader
		}
		if leader {
			s.fireDue(ctx, now)
		}
	}
	beat()
	tick.Every(ctx, s.o.Tick, beat)
	return nil
}

func (s *Scheduler) lead(ctx context.Context) (bool, error) {
	ttl := s.o.LeaderTTL.Milliseconds()
	n, err := renewScript.Run(ctx, s.rdb, []string{leaderKey}, s.token, ttl).Int()
	if err != nil {
		return false, err
	}
	if n == 1 {
		return true, nil
	}
	return s.rdb.SetNX(ctx, leaderKey, s.token, s.o.LeaderTTL).Result()
}

// fireDue enqueues every schedule whose time has come.
func (s *Scheduler) fireDue(ctx context.Context, now time.Time) {
	all, err := s.store.all(ctx)
	if err != nil {
		s.o.Logger.Warn("scheduler cannot read schedules", "err", err)
		return
	}
	for _, e := range all {
		if e.Next.IsZero() || now.Before(e.Next) {
			continue
		}
		if err := s.fire(ctx, e, now); err != nil {
			s.o.Logger.Warn("scheduled backup not enqueued", "schedule", e.Name, "err", err)
		}
	}
	if err := s.fireRetention(ctx, now); err != nil {
		s.o.Logger.Warn("retention job not enqueued", "err", err)
	}
}

// Fire enqueues one run of a schedule now (also used by fireDue).
func (s *Scheduler) fire(ctx context.Context, e *ScheduleEntry, now time.Time) error {
	sched, err := parseCron(e.Cron)
	if err != nil {
		return err
	}
	claim := fmt.Sprintf("backupbot:schedule-fired:%s:%d", e.Name, e.Next.Unix())
	ok, err := s.rdb.SetNX(ctx, claim, s.token, 48*time.Hour).Result()
	if err != nil {
		return err
	}
	if ok {
		meta, err := s.client.Enqueue(ctx, e.command(), Meta{Requester: e.Owner, Channel: e.Channel, Schedule: e.Name})
		if err != nil {
			_ = s.rdb.Del(ctx, claim).Err() // let the next tick try again
			return err
		}
		s.o.Logger.Info("scheduled backup enqueued", "schedule", e.Name, "job", meta.JobID)
		e.LastRun, e.LastJob = now.UTC(), meta.JobID
	}
	// Re-read so a concurrent update is not lost, then move Next on.
	cur, err := s.store.get(ctx, e.Name)
	if err != nil || cur == nil {
		return err
	}
	if cur.Cron == e.Cron {
		cur.Next = sched.Next(now)
	}
	if ok {
		cur.LastRun, cur.LastJob = e.LastRun, e.LastJob
	}
	_, err = s.store.put(ctx, cur, false)
	return err
}

func init() {
	register(commands.ActionSchedule, actionSpec{Timeout: time.Minute, MaxRetry: 0, Queue: QueueDefault,
		Why: "a quick Redis update: the user can just say it again"}, (*Worker).schedule)
}
