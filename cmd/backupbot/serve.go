package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/backupbot/backupbot/alerts"
	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/console"
	"github.com/backupbot/backupbot/bot/discord"
	"github.com/backupbot/backupbot/bot/slack"
	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/config"
	"github.com/backupbot/backupbot/httpapi"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/policy/approval"
	"github.com/backupbot/backupbot/policy/audit"
	"github.com/backupbot/backupbot/policy/lock"
	"github.com/backupbot/backupbot/storage"
	"github.com/backupbot/backupbot/storage/backend"
)

// serve runs the roles o asks for until ctx is done (or stdin ends, for a
// console-only service: then the jobs queued or running finish first, see
// endOfInput), then stops them gracefully.
func serve(ctx context.Context, o options, logger *slog.Logger, stdin io.Reader, stdout io.Writer, consoleTTY bool) error {
	// One snapshot of the configuration (file, policy, parser, version) in
	// one atomic pointer: the router, the parser, /readyz, the workers and
	// the scheduler read it through current, and a reload swaps it whole.
	first, err := config.ResolveSnapshot(o.configPath)
	if err != nil {
		return err
	}
	cfg, cfgPath := first.File, first.Path
	if cfgPath == "" {
		logger.Info("no configuration file: using the embedded defaults (a local repository under ./var, the console user is admin)")
		if o.runsWorker() {
			seedDefaultTargets(cfg, logger)
			if err := useGeneratedPassword(cfg, logger, stdout); err != nil {
				return err
			}
		}
	} else {
		logger.Info("configuration loaded", "file", cfgPath, "version", first.Version)
	}
	var snapshot atomic.Pointer[config.Snapshot]
	snapshot.Store(first)
	current := snapshot.Load
	currentFile := func() *config.File { return current().File }
	holder := policy.HolderFunc(func() *policy.Policy { return current().Policy })

	rc, err := connectRedis(logger)
	if err != nil {
		return err
	}
	defer rc.close()
	logger.Info("redis", "at", rc.where, "role", o.role)

	auditCfg := holder.Policy().Config().Audit
	for _, spec := range cfg.Storages { // storages' own password files are secrets too
		if spec.PasswordFile != "" {
			auditCfg.RedactFiles = append(auditCfg.RedactFiles, spec.PasswordFile)
		}
	}
	if f := cfg.HTTP.TokenFile; f != "" { // and so is the HTTP token
		auditCfg.RedactFiles = append(auditCfg.RedactFiles, f)
	}
	var httpToken atomic.Value
	token, err := cfg.HTTP.Token()
	if err != nil {
		return err
	}
	httpToken.Store(token)
	if o.httpAddr != "" && cfg.HTTP.TokenFile == "" {
		logger.Warn("http.token_file is not set: /, /readyz and /metrics answer anyone who can reach " + o.httpAddr)
	}
	// One redactor, the logs' and the audit log's, for everything the
	// service stores in Redis or posts to a chat.
	redact := audit.NewRedactor(audit.SecretsFromEnv(auditCfg, os.Getenv)).Redact
	auditLog, err := audit.New(rc.rdb, audit.OptionsFromConfig(auditCfg))
	if err != nil {
		return err
	}
	defer auditLog.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	reloads := newReloader(logger, &snapshot, auditLog, rc.rdb, o)
	// The HTTP token is part of the configuration: a token file that
	// cannot be read refuses the whole reload.
	reloads.prepare = func(s *config.Snapshot) (func(), error) {
		t, err := s.File.HTTP.Token()
		if err != nil {
			return nil, err
		}
		return func() { httpToken.Store(t) }, nil
	}
	go reloads.run(ctx)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		alerts.NewCollector(rc.rdb, logger))
	queueMetrics := newQueueCollector(rc.opt, logger)
	defer queueMetrics.Close()
	reg.MustRegister(queueMetrics)
	g, gctx := errgroup.WithContext(ctx)

	client := jobs.NewClient(rc.opt, rc.rdb, jobs.ClientOptions{Logger: logger, Redact: redact})
	defer client.Close()
	if o.runsWorker() {
		sched := jobs.NewScheduler(client, rc.rdb, jobs.SchedulerOptions{Logger: logger, Config: currentFile})
		g.Go(func() error { return sched.Run(gctx) })
		deps := jobs.Deps{
			Config:   currentFile,
			Password: config.RepoPassword,
			Policy:   func() jobs.Rechecker { return current().Policy },
			Audit:    alerts.Hooks(jobs.AuditTo(auditLog), alerts.NewRecorder(rc.rdb, currentFile, logger).Record),
			Locks:    lock.New(rc.rdb, lock.Options{}),
			Logger:   logger,
			Redact:   redact,
		}
		deps.ThreeTwoOne = newThreeTwoOne(deps, rc.rdb).Now
		w := jobs.NewWorker(rc.opt, rc.rdb, deps, jobs.WorkerOptions{Concurrency: o.concurrency})
		g.Go(func() error { return w.Run(gctx) })
	}

	var srv *httpapi.Server
	checks := []httpapi.Check{{Name: "redis", Probe: rc.ping}}
	// The storages /readyz probes are those of the configuration in force.
	storageChecks := func() []httpapi.Check {
		f := currentFile()
		var out []httpapi.Check
		for _, name := range slices.Sorted(maps.Keys(f.Storages)) {
			out = append(out, storageCheck(name, f.Storages[name]))
		}
		return out
	}

	var router *bot.Router
	if o.runsBot() {
		// The relay (event feed, posting bookkeeping, confirmations) gets a
		// Redis pool of its own: acks enqueue on rc.rdb's and never wait
		// behind the relay's traffic.
		relayRdb := rc.separatePool()
		defer relayRdb.Close()
		router = bot.NewRouter(bot.RouterOptions{
			Config:       func() bot.Configuration { return current() },
			Jobs:         client,
			Redis:        relayRdb,
			Policy:       holder,
			Approvals:    approval.New(rc.rdb, holder, approval.Options{}),
			Audit:        auditLog,
			Metrics:      bot.NewMetrics(reg),
			EditInterval: o.editInterval,
			Instance:     instanceName(o),
			Redact:       redact,
			Logger:       logger,
		})
	}
	if o.httpAddr != "" {
		opts := httpapi.Options{Addr: o.httpAddr, Checks: checks, MoreChecks: storageChecks, Gatherer: reg, Logger: logger,
			Warnings: []httpapi.Check{{Name: "redis persistence", Probe: rc.persistence}},
			Versions: versions(rc.rdb),
			Token:    func() string { return httpToken.Load().(string) }}
		rule := newThreeTwoOne(jobs.Deps{Config: currentFile, Password: config.RepoPassword, Logger: logger}, rc.rdb)
		opts.Dashboard = dashboard(client, router, alerts.DashboardSource{Redis: rc.rdb, Config: currentFile, ThreeTwoOne: rule.Cached,
			Incidents: alerts.NewIncidents(rc.rdb, func() commands.Parser { return current().Parser() })})
		srv = httpapi.New(opts)
		g.Go(func() error { return srv.Run(gctx) })
	}

	if router != nil {
		// On-call incidents: posted to the alerts channels, their buttons
		// answered before the router's.
		ac := cfg.Alerts.WithDefaults()
		platforms := func(m map[string]string) map[bot.Platform]string {
			out := make(map[bot.Platform]string, len(m))
			for p, ch := range m {
				out[bot.Platform(p)] = ch
			}
			return out
		}
		channels := platforms(ac.Channels)
		var hooks []alerts.Hook
		for _, w := range ac.Webhooks {
			secret := os.Getenv(w.SecretEnv)
			if secret == "" {
				logger.Warn("alerts: webhook secret variable is unset; its deliveries are signed with an empty secret", "variable", w.SecretEnv)
			}
			hooks = append(hooks, alerts.Hook{URL: w.URL, Secret: []byte(secret)})
		}
		webhooks := alerts.NewWebhooks(hooks, alerts.WebhookOptions{Logger: logger})
		g.Go(func() error { return webhooks.Run(gctx) })
		var probes []bot.StorageProbe
		for _, name := range slices.Sorted(maps.Keys(cfg.Storages)) {
			probes = append(probes, bot.StorageProbe{Name: name, Probe: storageCheck(name, cfg.Storages[name]).Probe})
		}
		alerter := bot.NewAlerter(router, bot.AlerterOptions{
			Storages:  probes,
			Incidents: alerts.NewIncidents(rc.rdb, func() commands.Parser { return current().Parser() }),
			Channels:  channels, Severity: ac.Severity, Mentions: ac.Mentions, SilenceHours: ac.SilenceHours,
			ScheduleGrace: ac.ScheduleGrace, Webhooks: webhooks, Logger: logger,
			EscalateAfter: ac.EscalateAfter, EscalateMentions: ac.EscalateMentions, EscalationChannels: platforms(ac.EscalationChannels),
		})
		handler := alerter.Wrap(router)
		eof := endOfInput{ctx: gctx, client: client, router: router, worker: o.runsWorker(), embedded: rc.embedded != nil, out: stdout, logger: logger, stop: cancel}
		adapters, err := startAdapters(gctx, g, o, logger, router, handler, srv, cfg, stdin, stdout, consoleTTY, eof.run)
		if err != nil {
			cancel()
			_ = g.Wait()
			return err
		}
		if adapters == 0 {
			cancel()
			_ = g.Wait()
			return errors.New("no chat adapter is running: set SLACK_BOT_TOKEN (with SLACK_SIGNING_SECRET or SLACK_APP_TOKEN), " +
				"or DISCORD_BOT_TOKEN (with DISCORD_PUBLIC_KEY), or pass --console")
		}
		g.Go(func() error { return router.Run(gctx) })
		g.Go(func() error { return alerter.Run(gctx) })
	}
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	logger.Info("backupbot stopped", "role", o.role)
	return err
}

// chatAdapter is a chat platform's adapter (Slack, Discord) as serve runs it.
type chatAdapter interface {
	bot.Surface
	Routes(mux *http.ServeMux)
	Close(ctx context.Context) error
}

// registerChat registers a chat adapter with the router, serves its
// routes on the HTTP listener (without one it logs noHTTP, unless empty)
// and closes the adapter when ctx ends.
func registerChat(ctx context.Context, g *errgroup.Group, router *bot.Router, srv *httpapi.Server, logger *slog.Logger,
	p bot.Platform, a chatAdapter, noHTTP string) {
	router.Register(p, a)
	if srv != nil {
		a.Routes(srv.Mux())
	} else if noHTTP != "" {
		logger.Warn(noHTTP)
	}
	g.Go(func() error {
		<-ctx.Done()
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return a.Close(cctx)
	})
}

// startAdapters starts the chat adapters and registers them with the
// router; it returns how many run.
func startAdapters(ctx context.Context, g *errgroup.Group, o options, logger *slog.Logger, router *bot.Router, handler bot.Handler,
	srv *httpapi.Server, cfg *config.File, stdin io.Reader, stdout io.Writer, consoleTTY bool, atEnd func()) (int, error) {
	n := 0
	chat := false
	if token := os.Getenv("SLACK_BOT_TOKEN"); token != "" {
		a, err := slack.NewAdapter(slack.Options{
			BotToken:      token,
			SigningSecret: os.Getenv("SLACK_SIGNING_SECRET"),
			AppToken:      os.Getenv("SLACK_APP_TOKEN"),
			APIURL:        os.Getenv("SLACK_API_URL"),
			Handler:       handler,
			Logger:        logger,
			APIErrors:     router.Metrics().ChatAPIErrors(),
		})
		if err != nil {
			return n, err
		}
		noHTTP := ""
		if os.Getenv("SLACK_APP_TOKEN") == "" {
			noHTTP = "slack: no HTTP listener and no SLACK_APP_TOKEN, so Slack commands cannot reach this process"
		}
		registerChat(ctx, g, router, srv, logger, bot.Slack, a, noHTTP)
		if os.Getenv("SLACK_APP_TOKEN") != "" {
			g.Go(func() error { return a.RunSocketMode(ctx) })
		}
		logger.Info("slack adapter started", "socket_mode", os.Getenv("SLACK_APP_TOKEN") != "")
		n++
		chat = true
	}
	if token := os.Getenv("DISCORD_BOT_TOKEN"); token != "" {
		a, err := discord.NewAdapter(discord.Options{
			BotToken:  token,
			PublicKey: os.Getenv("DISCORD_PUBLIC_KEY"),
			AppID:     os.Getenv("DISCORD_APP_ID"),
			APIURL:    os.Getenv("DISCORD_API_URL"),
			Handler:   handler,
			Logger:    logger,
			APIErrors: router.Metrics().ChatAPIErrors(),
		})
		if err != nil {
			return n, err
		}
		registerChat(ctx, g, router, srv, logger, bot.Discord, a,
			"discord: no HTTP listener, so Discord interactions cannot reach this process (set BACKUPBOT_HTTP_ADDR)")
		g.Go(func() error {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := a.CheckAuth(cctx); err != nil {
				logger.Warn("discord: the bot token does not work yet; posting progress will fail until it does", "err", err)
			}
			return nil
		})
		logger.Info("discord adapter started", "endpoint", "POST /discord/interactions")
		n++
		chat = true
	}
	if chat && !o.console {
		return n, nil
	}
	user := cfg.Console.User
	c := console.New(console.Options{
		User:      bot.Identity{UserID: user, UserName: user, Groups: cfg.Console.Groups},
		Out:       stdout,
		TTY:       consoleTTY,
		Width:     terminalWidth(stdout),
		EchoInput: !consoleTTY,
		Logger:    logger,
	})
	router.Register(bot.Console, c)
	n++
	if o.consoleSocket != "" {
		g.Go(func() error { return c.ServeSocket(ctx, handler, o.consoleSocket) })
	}
	if !o.noStdin {
		g.Go(func() error {
			err := c.Run(ctx, handler, stdin)
			if ctx.Err() == nil && o.consoleSocket == "" && !chat {
				atEnd() // finishes the running jobs, then stops everything
			}
			return err
		})
	}
	if consoleTTY {
		fmt.Fprintf(stdout, "backupbot console · you are %s · type /backup help, or Ctrl-D to quit\n", c.User().UserID)
	}
	return n, nil
}

// storageCheck probes a configured storage for /readyz: it must open and
// answer a lookup (a repository not created yet is fine).
func storageCheck(name string, spec storage.Spec) httpapi.Check {
	return httpapi.Check{Name: "storage " + name, Probe: func(ctx context.Context) error {
		b, err := storage.Open(ctx, spec)
		if err != nil {
			return err
		}
		defer b.Close()
		if _, err := b.Stat(ctx, "config"); err != nil && !errors.Is(err, backend.ErrNotFound) {
			return fmt.Errorf("%s does not answer: %w", b.Location(), err)
		}
		return nil
	}}
}

// dashboard feeds the web page at / from the job records and the history
// and incidents in Redis.
func dashboard(client *jobs.Client, router *bot.Router, src alerts.DashboardSource) func(ctx context.Context) (httpapi.Dashboard, error) {
	return func(ctx context.Context) (httpapi.Dashboard, error) {
		d, errHistory := src.Load(ctx)
		running, err := client.Running(ctx)
		err = errors.Join(errHistory, err)
		for _, st := range running {
			row := httpapi.JobRow{ID: st.Meta.JobID, Command: st.Meta.Text, Requester: st.Meta.Requester.Display(), State: string(st.State), Since: st.Meta.EnqueuedAt}
			if st.Progress != nil {
				row.Progress = progressOf(*st.Progress)
			}
			d.Running = append(d.Running, row)
		}
		if router != nil {
			for _, ev := range router.Recent() {
				row := httpapi.JobRow{ID: ev.Meta.JobID, Command: ev.Meta.Text, Requester: ev.Meta.Requester.Display(), State: string(ev.Kind), Since: ev.At, Progress: ev.Error}
				if ev.Result != nil {
					row.Progress = ev.Result.Summary
				}
				d.Recent = append(d.Recent, row)
			}
		}
		return d, err
	}
}

// instanceName names this process for the relay's consumer group and job
// ownership: --instance, else $BACKUPBOT_INSTANCE, else the host name and
// what the process listens on, which stay the same across restarts, so a
// restarted bot resumes reading job events where it stopped.
func instanceName(o options) string {
	if o.instance != "" {
		return o.instance
	}
	if v := os.Getenv("BACKUPBOT_INSTANCE"); v != "" {
		return v
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%s-%s%s", host, o.role, o.httpAddr, o.consoleSocket)
}
