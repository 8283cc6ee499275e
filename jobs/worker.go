package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/policy/lock"
	"github.com/backupbot/backupbot/storage"
	"github.com/backupbot/backupbot/storage/backend"
	storagerepo "github.com/backupbot/backupbot/storage/repo"
)

// Deps are what the handlers need from the rest of the service.
type Deps struct {
	// Config names the storages and targets (read at each job, so a
	// reloaded config applies to the next job). Required.
	Config func() *config.File
	// Password returns the repository password for a storage ("" for an
	// unencrypted repository). Required.
	Password func(storage.Spec) (string, error)
	// Policy returns the current policy for the re-check before work; nil
	// (or a nil result) skips the re-check.
	Policy func() Rechecker
	// Audit, when set, is called with every started, retrying, succeeded,
	// failed and canceled event (never progress) to record it in the audit log.
	Audit func(context.Context, Event)
	// Locks, when set, takes the policy lock on a target for restores that
	// write, so a second conflicting one is told who holds it (cleanups
	// need none: they never stop a backup or restore).
	Locks *lock.Manager
	// OpenBackend opens a storage; nil means storage.Open.
	OpenBackend func(context.Context, storage.Spec) (backend.Backend, error)
	// Logger receives the worker's log lines; nil means slog.Default().
	Logger *slog.Logger
	// Redact removes secrets from what the worker stores in Redis and
	// publishes (errors, results, reports); nil removes nothing.
	Redact func(string) string
	// Now is the clock of expiry and retention (nil: time.Now), for tests.
	Now func() time.Time
	// ThreeTwoOne, when set, gives a target's 3-2-1 status for the
	// compliance report ("" or nil: shown as "—").
	ThreeTwoOne func(target string) string
}

// WorkerOptions tune a Worker; the zero value is what the service uses.
type WorkerOptions struct {
	// Concurrency is how many jobs run at once (default: number of CPUs).
	Concurrency int
	// TaskCheckInterval is how often an idle worker polls the queues: asynq
	// sleeps between half and one and a half of it after finding them empty
	// (default 25 ms, so a chat user sees work start at once; asynq's own
	// default of 1 s delays the start by up to 1.5 s). Each poll is one
	// small Lua script on Redis.
	TaskCheckInterval time.Duration
	// ShutdownTimeout bounds a graceful stop (default 20 s): running jobs
	// are told to stop at their next safe point and are handed back to the
	// queue; one still running after this is requeued by asynq.
	ShutdownTimeout time.Duration
	// ProgressInterval is the least time between two progress events of a
	// job, phase changes aside (default 1 s).
	ProgressInterval time.Duration
	// CancelPollInterval is how often a running job checks its cancel flag
	// (default 250 ms).
	CancelPollInterval time.Duration
	// RetryDelay is the pause before retry n (n = 1 for the first retry);
	// default 10 s, 30 s, 90 s, ... capped at 10 min, with ±20 % jitter.
	RetryDelay func(n int) time.Duration
	// OrphanCheckInterval is how often the worker looks for jobs whose
	// worker died (default 2 s); OrphanGrace is how long past the lease's
	// end it waits first (default 5 s, against clock skew between hosts).
	OrphanCheckInterval time.Duration
	OrphanGrace         time.Duration
	// Queues overrides which queues to serve, with their priorities
	// (default critical, default, scheduled with strict priority).
	Queues map[string]int
	// Handlers replaces the built-in handler of an action (tests, or a
	// deployment with its own snapshot tooling).
	Handlers map[commands.Action]Handler
	// Middleware wraps every handler inside the built-in ones (Recover,
	// Recheck).
	Middleware []Middleware
	// ReportDir is where whole reports larger than PreviewLimit are
	// written (default DefaultReportDir); Redis keeps only a preview.
	ReportDir string
}

func (o *WorkerOptions) defaults() {
	if o.Concurrency <= 0 {
		o.Concurrency = runtime.NumCPU()
	}
	if o.TaskCheckInterval <= 0 {
		o.TaskCheckInterval = 25 * time.Millisecond
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 20 * time.Second
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = time.Second
	}
	if o.CancelPollInterval <= 0 {
		o.CancelPollInterval = 250 * time.Millisecond
	}
	if o.RetryDelay == nil {
		o.RetryDelay = defaultRetryDelay
	}
	if o.OrphanCheckInterval <= 0 {
		o.OrphanCheckInterval = 2 * time.Second
	}
	if o.OrphanGrace <= 0 {
		o.OrphanGrace = 5 * time.Second
	}
	if len(o.Queues) == 0 {
		o.Queues = map[string]int{QueueCritical: 6, QueueDefault: 3, QueueScheduled: 1}
	}
}

// defaultRetryDelay is 10 s * 3^(n-1), capped at 10 minutes, ±20 % jitter.
func defaultRetryDelay(n int) time.Duration {
	d := 10 * time.Second
	for i := 1; i < n && d < 10*time.Minute; i++ {
		d *= 3
	}
	d = min(d, 10*time.Minute)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// errHandedBack is returned to asynq when a stopping worker gives a job
// back: it is not counted as a failure and is retried at once.
var errHandedBack = errors.New("handed back: the worker running this job is shutting down")

// errCanceled is the cause of a job context cancelled by /backup cancel.
var errCanceled = errors.New("canceled by request")

// Worker runs jobs from the queues. Several Workers (in several processes
// on several machines) can share one Redis.
type Worker struct {
	opt   asynq.RedisConnOpt
	rdb   redis.UniversalClient
	deps  Deps
	o     WorkerOptions
	store statusStore
	log   *slog.Logger
	// runLocks serialize backups of one target across workers (serialize.go).
	runLocks *lock.Manager
	// repos keeps the key derivation and the snapshot files read by one
	// job for the next ones (repo.Cache): a small job does not pay them.
	repos *storagerepo.Cache

	mu       sync.Mutex
	running  map[string]context.CancelCauseFunc
	stopping bool
}

// NewWorker returns a Worker; Run starts it. opt says how asynq reaches
// Redis (nil: share rdb); rdb carries backupbot's own keys and events.
func NewWorker(opt asynq.RedisConnOpt, rdb redis.UniversalClient, deps Deps, o WorkerOptions) *Worker {
	o.defaults()
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.OpenBackend == nil {
		deps.OpenBackend = storage.Open
	}
	return &Worker{
		opt: opt, rdb: rdb, deps: deps, o: o,
		store:    statusStore{rdb},
		log:      deps.Logger,
		runLocks: lock.New(rdb, lock.Options{Prefix: runLockPrefix}),
		repos:    storagerepo.NewCache(),
		running:  make(map[string]context.CancelCauseFunc),
	}
}

// Run serves jobs until ctx is done, then stops gracefully: it takes no new
// job, tells running jobs to stop at their next safe point and hands them
// back to the queue (another worker, or this one after a restart, runs
// them again; nothing is lost), and returns nil. It returns an error only
// when the worker cannot start.
func (w *Worker) Run(ctx context.Context) error {
	if w.deps.Config == nil || w.deps.Password == nil {
		return errors.New("jobs worker: Deps.Config and Deps.Password are required")
	}
	cfg := asynq.Config{
		Concurrency:              w.o.Concurrency,
		Queues:                   w.o.Queues,
		StrictPriority:           true,
		TaskCheckInterval:        w.o.TaskCheckInterval,
		DelayedTaskCheckInterval: time.Second,
		ShutdownTimeout:          w.o.ShutdownTimeout,
		RetryDelayFunc: func(n int, err error, _ *asynq.Task) time.Duration {
			if errors.Is(err, errHandedBack) {
				return 0
			}
			if errors.Is(err, errWaitTurn) {
				return waitTurnDelay()
			}
			return w.o.RetryDelay(n + 1)
		},
		IsFailure:       func(err error) bool { return !errors.Is(err, errHandedBack) && !errors.Is(err, errWaitTurn) },
		Logger:          asynqLogger{w.log},
		LogLevel:        asynq.WarnLevel,
		HealthCheckFunc: func(err error) { w.logRedisHealth(err) },
	}
	var srv *asynq.Server
	if w.opt == nil {
		srv = asynq.NewServerFromRedisClient(w.rdb, cfg)
	} else {
		srv = asynq.NewServer(w.opt, cfg)
	}
	mux := asynq.NewServeMux()
	for action := range specs {
		mux.Handle(TaskType(action), w.taskHandler(action))
	}
	if err := srv.Start(mux); err != nil {
		return fmt.Errorf("start job worker (is Redis reachable?): %w", err)
	}
	w.log.Info("job worker started", "concurrency", w.o.Concurrency, "queues", w.o.Queues)

	recCtx, stopRec := context.WithCancel(context.Background())
	recDone := make(chan struct{})
	go func() {
		defer close(recDone)
		orphanRecoverer{rdb: w.rdb, queues: keys(w.o.Queues), grace: w.o.OrphanGrace, every: w.o.OrphanCheckInterval, log: w.log}.run(recCtx)
	}()
	recDone2 := make(chan struct{})
	go func() {
		defer close(recDone2)
		w.runReconcile(recCtx)
	}()

	<-ctx.Done()
	w.log.Info("job worker stopping: handing running jobs back to the queue")
	srv.Stop() // take no new job
	w.mu.Lock()
	w.stopping = true
	for _, cancel := range w.running {
		cancel(errHandedBack)
	}
	w.mu.Unlock()
	srv.Shutdown()
	stopRec()
	<-recDone
	<-recDone2
	w.log.Info("job worker stopped")
	return nil
}

func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// logRedisHealth logs asynq's failed health checks (every 15 s while
// Redis is unreachable; the worker reconnects by itself).
func (w *Worker) logRedisHealth(err error) {
	if err != nil {
		w.log.Warn("job worker cannot reach Redis; retrying", "err", err)
	}
}

// asynqLogger sends asynq's log lines to slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) {
	a.l.Error(fmt.Sprint(args...), "component", "asynq", "fatal", true)
}
