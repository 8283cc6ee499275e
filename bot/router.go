package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/internal/randid"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/policy/approval"
	"github.com/backupbot/backupbot/policy/audit"
)

// DefaultEditInterval is how often, at most, a job's progress message is
// edited.
const DefaultEditInterval = 2 * time.Second

// DefaultMaxInFlight is how many commands one bot process handles at once.
const DefaultMaxInFlight = 128

// RouterOptions wire a Router.
type RouterOptions struct {
	// Parser parses chat text (built from the configuration, so it knows
	// the configured targets and storages). Config, when set, replaces it.
	Parser commands.Parser
	// Config returns the configuration in force (the service's
	// *config.Snapshot, swapped whole on reload): its parser, and the door
	// check every command that would become a job passes before it is
	// queued. Read once per command, so one command never sees two
	// configurations.
	Config func() Configuration
	// Jobs enqueues jobs and answers status, cancel and list --running.
	Jobs *jobs.Client
	// Redis holds the relay's job-to-message map, confirmations and the
	// event feed; usually the client Jobs uses.
	Redis redis.UniversalClient
	// Policy decides every command and click.
	Policy *policy.Holder
	// Approvals stores two-person approval requests; nil refuses commands
	// that need approval, saying approval is not set up.
	Approvals *approval.Store
	// Audit records commands, decisions and clicks; nil records nothing.
	Audit *audit.Log
	// Surfaces are the reply surfaces by platform; more can be added with
	// Register before Run.
	Surfaces map[Platform]Surface
	// Metrics, when set, counts commands, acks and relayed messages.
	Metrics *Metrics
	// EditInterval is the least time between two edits of one progress
	// message (default DefaultEditInterval).
	EditInterval time.Duration
	// PostInterval is the least time between two posts of the relay into
	// one Slack or Discord channel (default DefaultPostInterval, about the
	// platforms' limit); when a channel falls behind, finished jobs are
	// reported there in batches.
	PostInterval time.Duration
	// MaxInFlight caps the commands handled at once (default
	// DefaultMaxInFlight); beyond it a command is refused at once, told
	// nothing was started, instead of everyone waiting past the ack time.
	MaxInFlight int
	// Instance names this process for the relay's job ownership (default:
	// random). Two processes must not share one.
	Instance string
	// Redact removes secrets from text (the service passes the audit
	// log's redactor). It applies to every message posted through any
	// surface, to every reply, and to every command before it is stored
	// in Redis (job payloads and records, approvals, confirmations).
	// Default: nothing is removed.
	Redact func(string) string
	// ReportDir is where workers write whole reports (default
	// jobs.DefaultReportDir); a report file there is attached whole.
	ReportDir string
	// SystemPlatform is the surface that shows the jobs the service
	// starts by itself (the retention job, whose requester is the
	// platform "system"), in the channel they name (the configuration's
	// retention.channel). Default: the first surface registered (serve
	// registers Slack, then Discord, then the console).
	SystemPlatform Platform
	Logger         *slog.Logger
}

// Configuration is the configuration in force as the router reads it.
type Configuration interface {
	// Parser knows the configured targets and storages.
	Parser() commands.Parser
	// Admit refuses a command the configuration cannot run (an unknown
	// target, storage or database, an unsupported resource) with a
	// *commands.Error, before anything is queued.
	Admit(cmd commands.Command) error
}

// staticConfig is a fixed parser with no door check (tests, tools).
type staticConfig struct{ parser commands.Parser }

func (c staticConfig) Parser() commands.Parser    { return c.parser }
func (staticConfig) Admit(commands.Command) error { return nil }

// Router is the bot.Handler every adapter calls, and the relay that turns
// job events into thread posts and edits (Run).
type Router struct {
	config    func() Configuration
	jobs      *jobs.Client
	rdb       redis.UniversalClient
	policy    *policy.Holder
	approvals *approval.Store
	audit     *audit.Log
	metrics   *Metrics
	interval  time.Duration
	instance  string
	redact    func(string) string
	reportDir string
	log       *slog.Logger
	out       *outbox
	auditQ    *auditWriter
	slots     chan struct{} // commands being handled now (admission control)

	mu       sync.Mutex
	surfaces map[Platform]Surface
	system   Platform // see RouterOptions.SystemPlatform
	relays   map[string]*jobRelay
	recent   []jobs.Event // newest last, for the dashboard
}

// NewRouter returns a Router; call Run to start relaying job events.
func NewRouter(o RouterOptions) *Router {
	r := &Router{
		config: o.Config, jobs: o.Jobs, rdb: o.Redis, policy: o.Policy, approvals: o.Approvals,
		audit: o.Audit, metrics: o.Metrics, interval: o.EditInterval, instance: o.Instance, redact: o.Redact, reportDir: o.ReportDir, log: o.Logger,
		surfaces: map[Platform]Surface{}, relays: map[string]*jobRelay{}, system: o.SystemPlatform,
	}
	if r.interval <= 0 {
		r.interval = DefaultEditInterval
	}
	if r.reportDir == "" {
		r.reportDir = jobs.DefaultReportDir
	}
	if r.redact == nil {
		r.redact = func(s string) string { return s }
	}
	if r.instance == "" {
		r.instance = randid.Hex(6)
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.config == nil {
		static := staticConfig{o.Parser}
		r.config = func() Configuration { return static }
	}
	if r.policy == nil {
		r.policy = &policy.Holder{} // denies everything
	}
	if r.metrics == nil {
		r.metrics = NewMetrics(nil)
	}
	r.out = newOutbox(o.PostInterval, r.log)
	if r.audit != nil {
		r.auditQ = newAuditWriter(r.audit, r.log)
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	r.slots = make(chan struct{}, o.MaxInFlight)
	for _, p := range slices.Sorted(maps.Keys(o.Surfaces)) {
		r.Register(p, o.Surfaces[p])
	}
	return r
}

// paced routes the relay's posts on chat platforms through the outbox.
func (r *Router) paced(p Platform, s Surface) Surface {
	if p == Console || s == nil {
		return s
	}
	return &pacedSurface{Surface: s, platform: string(p), out: r.out}
}

// Register adds (or replaces) the reply surface of a platform.
func (r *Router) Register(p Platform, s Surface) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.surfaces[p] = r.paced(p, r.wrap(s))
	if r.system == "" {
		r.system = p
	}
}

// relayPlatform is the platform whose surface shows a job started by
// requesterPlatform: its own, or for the service's own jobs the system
// surface.
func (r *Router) relayPlatform(requesterPlatform string) string {
	if requesterPlatform != jobs.SystemRetention.Platform {
		return requesterPlatform
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(r.system)
}

func (r *Router) surface(p Platform) Surface {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.surfaces[p]
}

// PolicyIdentity converts a chat identity to the one policy decides on.
func PolicyIdentity(id Identity) policy.Identity {
	return policy.Identity{Platform: string(id.Platform), UserID: id.UserID, UserName: id.UserName, Groups: id.Groups}
}

// HandleCommand parses, checks and answers one command: directly for help,
// status, cancel, approvals, audit and list --running; with a preview and a
// button for a restore that needs confirmation or approval; otherwise by
// enqueueing a job and answering with its id at once.
func (r *Router) HandleCommand(ctx context.Context, in Incoming) (reply Reply) {
	defer func() { reply.Message = redactMessage(reply.Message, r.redact) }()
	start := time.Now()
	action, outcome := "unknown", "error"
	defer func() {
		r.auditWritten(ctx)
		r.metrics.ack.Observe(time.Since(start).Seconds())
		r.metrics.commands.WithLabelValues(action, outcome).Inc()
	}()
	select {
	case r.slots <- struct{}{}:
		defer func() { <-r.slots }()
	default:
		outcome = "overloaded"
		r.log.Warn("router: too many commands at once, refusing one", "max", cap(r.slots), "user", in.From.UserID)
		return ephemeral("⚠️ backupbot is handling too many commands right now, so nothing was started; try again in a minute.")
	}
	who := PolicyIdentity(in.From)
	conf := r.config()
	invalid := func(err error) Reply {
		outcome = "invalid"
		r.record(ctx, audit.Entry{Kind: audit.Invalid, User: who, Channel: in.Channel, Command: in.Text, Error: err.Error()})
		text := "⚠️ " + err.Error()
		if !strings.Contains(text, "/backup help") {
			text += "\nType `/backup help` for the actions, or `/backup help ACTION` for one action's options."
		}
		return ephemeral(text)
	}

	cmd, err := conf.Parser().Parse(in.Text)
	if err != nil {
		return invalid(err)
	}
	action = string(cmd.Action())
	// A secret typed into the command (a --tags value, a key) goes no
	// further: not into Redis, not into a message.
	if rc, err := commands.Redact(cmd, r.redact); err == nil {
		cmd = rc
	} else {
		outcome = "invalid"
		return ephemeral("⚠️ This command holds something shaped like a secret that cannot be removed from it; type it without the secret.")
	}
	text := commands.Render(cmd)
	key := "" // the request's idempotency key
	if in.RequestID != "" {
		key = string(in.From.Platform) + ":" + in.RequestID
	}
	d := r.policy.Decide(who, in.Channel, cmd)
	r.record(ctx, audit.Decided(who, in.Channel, text, cmd, d))
	if !d.Allowed {
		outcome = "denied"
		return ephemeral("⛔ Not allowed: " + d.Reason + ".")
	}

	if reply, ok := r.answer(ctx, conf, who, in, cmd); ok {
		outcome = "answered"
		return reply
	}
	// The door: a command the configuration cannot run is refused now,
	// with the name that is wrong, and nothing is queued.
	if err := conf.Admit(cmd); err != nil {
		return invalid(err)
	}
	// cleanup without --force always shows its dry run and waits for the
	// requester's Confirm; with --force it asks nobody, unless the policy
	// wants a second person's approval (as for restore --force).
	needsConfirm := d.NeedsConfirmation || confirmsFirst(cmd)
	if d.NeedsApproval || needsConfirm {
		outcome = "confirmation"
		if d.NeedsApproval {
			outcome = "approval"
			if r.approvals == nil {
				outcome = "error"
				return ephemeral("⛔ `" + text + "` needs a second person's approval, and approvals are not set up on this bot (it has no approval store).")
			}
		}
		preview := previewOf(cmd)
		if preview == nil {
			// Nothing to preview: ask at once.
			return r.askDirect(ctx, who, in, cmd, text, d.NeedsApproval)
		}
		purpose := purposeConfirm
		if d.NeedsApproval {
			purpose = purposeApproval
		}
		meta, err := r.enqueuePreview(ctx, preview, jobs.Meta{Requester: who, Channel: in.Channel, Thread: in.Thread, Text: text}, relayExtra{Purpose: purpose}, key)
		if err != nil {
			outcome = "error"
			return ephemeral(r.enqueueFailed(meta, err))
		}
		if purpose == purposeApproval {
			return ephemeral(fmt.Sprintf("🔎 `%s` needs approval by a second person. Previewing it first as job `%s`; the plan and the Approve/Deny buttons follow in the thread.", text, meta.JobID))
		}
		if _, ok := cmd.(*commands.Cleanup); ok {
			return ephemeral(fmt.Sprintf("🔎 Dry run of `%s` as job `%s`: nothing is deleted until you press Confirm under the list of what it would remove, in the thread (or add --force to skip this).", text, meta.JobID))
		}
		return ephemeral(fmt.Sprintf("🔎 Previewing `%s` as job `%s`; check the plan in the thread and press Confirm to run it.", text, meta.JobID))
	}

	meta, replayed, err := r.enqueue(ctx, cmd, jobs.Meta{Requester: who, Channel: in.Channel, Thread: in.Thread, Text: text}, key)
	if err != nil {
		return ephemeral(r.enqueueFailed(meta, err))
	}
	outcome = "enqueued"
	if replayed {
		outcome = "replayed"
		r.log.Info("router: a request arrived again; answering with the job it made", "job", meta.JobID, "request", key)
		return ephemeral(fmt.Sprintf("✅ Queued as job `%s`: `%s` (this request arrived more than once; it runs once). `/backup status %s` at any time.", meta.JobID, meta.Text, meta.JobID))
	}
	return ephemeral(fmt.Sprintf("✅ Queued as job `%s`: `%s`. Progress follows in the thread; `/backup status %s` or `/backup cancel %s` at any time.", meta.JobID, text, meta.JobID, meta.JobID))
}

// askDirect asks for approval or confirmation of a command that has no
// preview (e.g. `cleanup --force` when the policy marks it): the request is
// posted with its buttons at once, bound to the command alone.
func (r *Router) askDirect(ctx context.Context, who policy.Identity, in Incoming, cmd commands.Command, text string, needsApproval bool) Reply {
	s := unpaced(r.surface(in.From.Platform)) // an answer to a command: not behind the relay's backlog
	if s == nil {
		return ephemeral("⚠️ This bot cannot post on " + string(in.From.Platform) + ", so it cannot ask for confirmation here.")
	}
	msg := Message{}
	if needsApproval {
		a, err := r.approvals.Request(ctx, approval.Request{
			Requester: who, Channel: in.Channel, Thread: in.Thread, Command: cmd, Text: text,
			PlanHash: policy.PlanHash(cmd, nil),
		})
		if err != nil {
			return ephemeral("⚠️ Could not create the approval request: " + err.Error())
		}
		r.record(ctx, audit.Entry{Kind: audit.ApprovalRequested, User: who, Channel: in.Channel, Command: text, Action: string(cmd.Action()), ApprovalID: a.ID})
		msg.Text = fmt.Sprintf("🔐 `%s` requested by %s needs approval by someone with role %s other than the requester. Approval `%s` works once and expires %s.",
			text, who.Display(), strings.Join(r.policy.Policy().ApproverRoles(), " or "), a.ID, expiresIn(a.ExpiresAt))
		msg.Buttons = []Button{
			{ActionID: ActionApprove, Label: "Approve", Value: a.ID, Style: "primary"},
			{ActionID: ActionDeny, Label: "Deny", Value: a.ID, Style: "danger"},
		}
	} else {
		id := randid.Hex(4)
		ttl := r.policy.Policy().ApprovalTTL()
		cf := confirmation{Text: text, Requester: who, Channel: in.Channel, Thread: in.Thread, ExpiresAt: time.Now().Add(ttl)}
		if err := r.saveConfirmation(ctx, id, cf, ttl); err != nil {
			return ephemeral(r.queueDown(err))
		}
		msg.Text = fmt.Sprintf("❓ %s: press *Confirm* to run `%s`, or *Cancel*. Expires %s.", who.Display(), text, expiresIn(cf.ExpiresAt))
		msg.Buttons = []Button{
			{ActionID: ActionConfirm, Label: "Confirm", Value: id, Style: "primary"},
			{ActionID: ActionCancel, Label: "Cancel", Value: id},
		}
	}
	if _, err := s.Post(ctx, in.Channel, in.Thread, msg); err != nil {
		return ephemeral("⚠️ Could not post the request in the channel: " + err.Error())
	}
	if needsApproval {
		return ephemeral("🔐 `" + text + "` needs approval by a second person; the request is in the channel.")
	}
	return ephemeral("❓ Confirm `" + text + "` with the button in the channel.")
}

// queueDown words, for the user, a Redis failure before anything was
// queued. The error itself (with Redis's address) goes to the log only.
func (r *Router) queueDown(err error) string {
	r.log.Warn("router: Redis failed", "err", err)
	return "⚠️ The job queue is unavailable right now, so nothing was started; try again in a minute."
}

// enqueueFailed words a failed enqueue for the user: "not started" only
// when the job provably will not run (jobs.ErrNotQueued); when Redis could
// not say, the user is told exactly that and how to find out.
func (r *Router) enqueueFailed(meta jobs.Meta, err error) string {
	r.log.Warn("router: enqueue failed", "job", meta.JobID, "err", err)
	if errors.Is(err, jobs.ErrQueueUncertain) {
		return fmt.Sprintf("⚠️ The job queue stopped answering while job `%s` was being queued, so it is not known yet whether it will run. "+
			"`/backup status %s` tells once the queue answers again; run the command again only if it says the job is unknown.", meta.JobID, meta.JobID)
	}
	return "⚠️ The job queue is unavailable right now, so nothing was started; try again in a minute."
}

func ephemeral(text string) Reply {
	return Reply{Message: Message{Text: text}, Ephemeral: true}
}

// answer handles the actions that never become jobs.
func (r *Router) answer(ctx context.Context, conf Configuration, who policy.Identity, in Incoming, cmd commands.Command) (Reply, bool) {
	switch c := cmd.(type) {
	case *commands.Help:
		text, err := conf.Parser().HelpText(c.Topic)
		if err != nil {
			return ephemeral("⚠️ " + err.Error()), true
		}
		return ephemeral(text), true
	case *commands.Status:
		st, err := r.jobs.Status(ctx, c.JobID)
		if err != nil {
			return ephemeral("⚠️ " + err.Error()), true
		}
		msg := statusMessage(st)
		if st.State == jobs.StateQueued {
			if n, err := r.jobs.Workers(ctx); err == nil && n == 0 {
				msg.Fields = append(msg.Fields, Field{Label: "Workers", Value: "none connected: the job waits in the queue until a worker starts"})
			}
		}
		return Reply{Message: msg, Ephemeral: true}, true
	case *commands.Cancel:
		if err := r.jobs.Cancel(ctx, c.JobID); err != nil {
			if errors.Is(err, jobs.ErrJobFinished) {
				return ephemeral("ℹ️ Nothing to cancel: " + err.Error() + "."), true
			}
			return ephemeral("⚠️ Could not cancel job " + c.JobID + ": " + err.Error()), true
		}
		return ephemeral(fmt.Sprintf("⏹ Cancel requested for job `%s`: it stops at its next safe point and leaves the repository clean.", c.JobID)), true
	case *commands.List:
		if !c.Running {
			return Reply{}, false
		}
		running, err := r.jobs.Running(ctx)
		if err != nil {
			return ephemeral(r.queueDown(err)), true
		}
		return Reply{Message: runningMessage(running), Ephemeral: true}, true
	case *commands.Approvals:
		return r.answerApprovals(ctx, who, c), true
	case *commands.Audit:
		return r.answerAudit(ctx, c), true
	}
	return Reply{}, false
}

func (r *Router) answerApprovals(ctx context.Context, who policy.Identity, c *commands.Approvals) Reply {
	if r.approvals == nil {
		return ephemeral("ℹ️ Approvals are not set up on this bot.")
	}
	if c.Withdraw != "" {
		a, err := r.approvals.Withdraw(ctx, c.Withdraw, who)
		if err != nil {
			return ephemeral("⛔ " + err.Error())
		}
		r.record(ctx, audit.Entry{Kind: audit.Withdrawn, User: who, Channel: a.Channel, Command: a.Text, ApprovalID: a.ID})
		r.postToThread(ctx, a.Requester.Platform, a.Channel, a.Thread, Message{Text: fmt.Sprintf("↩️ %s withdrew approval request `%s`.", who.Display(), a.ID)})
		return ephemeral(fmt.Sprintf("↩️ Approval request `%s` withdrawn.", a.ID))
	}
	pending, err := r.approvals.Pending(ctx)
	if err != nil {
		return ephemeral("⚠️ Could not read the pending approvals: " + err.Error())
	}
	return ephemeral(listText(pending, "No approval requests are pending.", "%d pending approval request(s):", "", func(a approval.Approval) string {
		return fmt.Sprintf("• `%s` `%s` by %s, expires %s — `approve %s` / `deny %s`",
			a.ID, a.Text, a.Requester.Display(), a.ExpiresAt.Format("15:04 MST"), a.ID, a.ID)
	}))
}

// confirmsFirst reports whether cmd always waits for its requester's
// Confirm after a dry run, whatever the policy says: cleanup without
// --force (and without --dry-run, which deletes nothing).
func confirmsFirst(cmd commands.Command) bool {
	c, ok := cmd.(*commands.Cleanup)
	return ok && !c.Force && !c.DryRun
}

// previewOf is the command that shows what cmd would do without doing it
// (a restore's --preview, a cleanup's --dry-run), or nil when there is
// none or cmd is one already.
func previewOf(cmd commands.Command) commands.Command {
	switch c := cmd.(type) {
	case *commands.Restore:
		if !c.Preview {
			p := *c
			p.Preview = true
			return &p
		}
	case *commands.Cleanup:
		if !c.DryRun && !c.Force {
			p := *c
			p.DryRun = true
			return &p
		}
	}
	return nil
}

// isPreview reports whether a job's text is a preview the router may have
// enqueued (its purpose is written right after the enqueue).
func isPreview(action, text string) bool {
	return (action == string(commands.ActionRestore) && strings.Contains(text, "--preview")) ||
		(action == string(commands.ActionCleanup) && strings.Contains(text, "--dry-run"))
}

// enqueuePreview enqueues preview (see previewOf) in place of the command
// meta.Text names, and remembers what to do with its result. key names
// the request (see jobs.EnqueueOnce); a replayed request gets the preview
// its first arrival made.
func (r *Router) enqueuePreview(ctx context.Context, preview commands.Command, meta jobs.Meta, extra relayExtra, key string) (jobs.Meta, error) {
	extra.Original = meta.Text
	meta.Text = commands.Render(preview)
	meta, replayed, err := r.enqueue(ctx, preview, meta, key)
	if err != nil || replayed {
		return meta, err
	}
	// The job is queued: its purpose must be saved even when the request
	// that asked for it has gone meanwhile.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := r.saveExtra(sctx, meta.JobID, extra); err != nil {
		r.log.Warn("router: remembering the purpose of a preview", "job", meta.JobID, "err", err)
	}
	return meta, nil
}

// enqueueBudget bounds the enqueue itself; settling a lost answer takes
// at most about a second more (jobs.EnqueueOnce), so a command is answered
// well within the adapters' acknowledgement time (2.5 s).
const enqueueBudget = time.Second

// enqueue queues cmd within enqueueBudget (see jobs.EnqueueOnce).
func (r *Router) enqueue(ctx context.Context, cmd commands.Command, meta jobs.Meta, key string) (jobs.Meta, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, enqueueBudget)
	defer cancel()
	return r.jobs.EnqueueOnce(ctx, cmd, meta, key)
}

// Recent returns the last finished jobs this process relayed, newest first.
func (r *Router) Recent() []jobs.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]jobs.Event, 0, len(r.recent))
	for i := len(r.recent) - 1; i >= 0; i-- {
		out = append(out, r.recent[i])
	}
	return out
}
