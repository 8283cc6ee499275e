package bot

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/backupbot/backupbot/alerts"
	"github.com/backupbot/backupbot/internal/humanize"
	"github.com/backupbot/backupbot/internal/tick"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/policy/audit"
)

// Incident buttons' action IDs. Values are the incident ID; Silence's is
// "ID:HOURS".
const (
	ActionIncidentAck     = "incident-ack"
	ActionIncidentRetry   = "incident-retry"
	ActionIncidentSilence = "incident-silence"
)

// Audit kinds of incident clicks.
const (
	AuditIncidentAcknowledged audit.Kind = "incident_acknowledged"
	AuditIncidentSilenced     audit.Kind = "incident_silenced"
	AuditIncidentRetried      audit.Kind = "incident_retried"
	AuditIncidentRefused      audit.Kind = "incident_refused"
)

// AlerterOptions configure an Alerter.
type AlerterOptions struct {
	// Incidents is the incident store (required).
	Incidents *alerts.Incidents
	// Channels is the on-call channel per platform; platforms left out (or
	// with no registered surface in this process) get nothing.
	Channels map[Platform]string
	// Severity is shown on every incident ("critical" when empty).
	Severity string
	// Mentions go into the root message when an incident opens.
	Mentions []string
	// SilenceHours are the Silence buttons (default 4 and 24).
	SilenceHours []int
	// ScheduleGrace is how long past its due time a schedule may go with no
	// good run before a missed-schedule incident opens (default 30 min);
	// CheckInterval is how often schedules are checked (default 1 min).
	ScheduleGrace time.Duration
	CheckInterval time.Duration
	// EscalateAfter, when set, escalates an incident still unacknowledged
	// this long after it opened: EscalateMentions are posted in its thread
	// and the incident is posted to EscalationChannels too.
	EscalateAfter      time.Duration
	EscalateMentions   []string
	EscalationChannels map[Platform]string
	// Storages are probed every CheckInterval (the /readyz probes): one
	// that fails opens an incident, resolved when it answers again.
	Storages []StorageProbe
	// Webhooks, when set, get every incident change (in the background).
	Webhooks *alerts.Webhooks
	Logger   *slog.Logger
	// Now is the clock silences are judged by (default time.Now); give
	// the Incidents store the same one (Incidents.SetClock).
	Now func() time.Time
}

// StorageProbe checks that one storage answers.
type StorageProbe struct {
	Name  string
	Probe func(context.Context) error
}

// Alerter posts incidents to the on-call channels: one root message per
// incident and platform, edited in place as its state changes, and every
// repeat or update in its thread. It uses the Router's surfaces, policy,
// audit log and job client.
type Alerter struct {
	r   *Router
	o   AlerterOptions
	log *slog.Logger
}

// NewAlerter returns an Alerter posting through r's surfaces.
func NewAlerter(r *Router, o AlerterOptions) *Alerter {
	if o.Severity == "" {
		o.Severity = "critical"
	}
	if len(o.SilenceHours) == 0 {
		o.SilenceHours = []int{4, 24}
	}
	if o.ScheduleGrace <= 0 {
		o.ScheduleGrace = 30 * time.Minute
	}
	if o.CheckInterval <= 0 {
		o.CheckInterval = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = r.log
	}
	return &Alerter{r: r, o: o, log: log}
}

// Run watches job events and turns final ones into incident changes until
// ctx is done. Several bot processes may run it: each event is applied once.
func (a *Alerter) Run(ctx context.Context) error {
	go a.watchSchedules(ctx)
	err := jobs.SubscribeWith(ctx, a.r.rdb, jobs.SubscribeOptions{
		RetryDelay: 500 * time.Millisecond,
		OnError:    func(err error) { a.log.Warn("alerts: reading job events (retrying)", "err", err) },
	}, func(ev jobs.Event) { a.Observe(ctx, ev) })
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// watchSchedules opens missed-schedule incidents (see
// alerts.Incidents.MissedSchedules) every CheckInterval.
func (a *Alerter) watchSchedules(ctx context.Context) {
	tick.Every(ctx, a.o.CheckInterval, func() { a.check(ctx) })
}

// check is one round of watchSchedules: missed schedules, storage probes,
// escalations.
func (a *Alerter) check(ctx context.Context) {
	opened, err := a.o.Incidents.MissedSchedules(ctx, a.o.ScheduleGrace)
	if err != nil && ctx.Err() == nil {
		a.log.Warn("alerts: checking for missed schedules", "err", err)
	}
	for _, inc := range opened {
		a.o.Webhooks.Notify(string(alerts.Opened), inc)
		a.open(ctx, inc, "⏰ "+inc.LastError)
	}
	a.probeStorages(ctx)
	if a.o.EscalateAfter > 0 {
		a.escalate(ctx)
	}
}

// probeStorages opens or resolves storage incidents from the probes.
func (a *Alerter) probeStorages(ctx context.Context) {
	for _, p := range a.o.Storages {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := p.Probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			inc, oerr := a.o.Incidents.StorageDown(ctx, p.Name, err)
			if oerr != nil {
				a.log.Warn("alerts: recording a storage incident", "storage", p.Name, "err", oerr)
			}
			if inc != nil {
				a.o.Webhooks.Notify(string(alerts.Opened), inc)
				a.open(ctx, inc, "🔌 Storage "+p.Name+" does not answer: "+err.Error())
			}
			continue
		}
		inc, rerr := a.o.Incidents.StorageUp(ctx, p.Name)
		if rerr != nil {
			a.log.Warn("alerts: resolving a storage incident", "storage", p.Name, "err", rerr)
		}
		if inc != nil {
			a.o.Webhooks.Notify(string(alerts.Cleared), inc)
			a.update(ctx, inc, "✅ Resolved: storage "+p.Name+" answers again.")
		}
	}
}

// escalate posts incidents left unacknowledged past EscalateAfter.
func (a *Alerter) escalate(ctx context.Context) {
	incs, err := a.o.Incidents.Escalate(ctx, a.o.EscalateAfter)
	if err != nil && ctx.Err() == nil {
		a.log.Warn("alerts: escalating incidents", "err", err)
	}
	for _, inc := range incs {
		a.o.Webhooks.Notify("escalated", inc)
		text := fmt.Sprintf("⏫ Unacknowledged for %s: escalating.", a.o.EscalateAfter)
		if len(a.o.EscalateMentions) > 0 {
			text += " " + strings.Join(a.o.EscalateMentions, " ")
		}
		a.update(ctx, inc, text)
		for p, ch := range a.o.EscalationChannels {
			s := a.r.surface(p)
			if s == nil {
				continue
			}
			m := a.root(inc, false)
			m.Text = "⏫ Escalated, unacknowledged for " + a.o.EscalateAfter.String() + ": " + m.Text
			if len(a.o.EscalateMentions) > 0 {
				m.Text += "\n" + strings.Join(a.o.EscalateMentions, " ")
			}
			_, err := s.Post(ctx, ch, "", m)
			a.r.count(string(p), "post", err)
		}
	}
}

// Observe applies one job event to the incidents and posts what changed.
func (a *Alerter) Observe(ctx context.Context, ev jobs.Event) {
	if inc, change, err := a.o.Incidents.ResolveSchedule(ctx, ev); err != nil {
		a.log.Warn("alerts: could not resolve a missed-schedule incident", "job", ev.Meta.JobID, "err", err)
	} else if change == alerts.Cleared {
		a.o.Webhooks.Notify(string(change), inc)
		a.update(ctx, inc, fmt.Sprintf("✅ Resolved: scheduled job `%s` succeeded. %s", ev.Meta.JobID, summary(ev)))
	}
	if inc, change, err := a.o.Incidents.ObserveSize(ctx, ev); err != nil {
		a.log.Warn("alerts: could not check the repository's size limit", "job", ev.Meta.JobID, "err", err)
	} else if change != alerts.None {
		a.o.Webhooks.Notify(string(change), inc)
		if change == alerts.Opened {
			a.open(ctx, inc, "📦 "+inc.LastError)
		} else {
			a.update(ctx, inc, fmt.Sprintf("✅ Resolved: after job `%s` the repository on %s is %s, within its %s limit.",
				ev.Meta.JobID, ev.Result.Repository.Storage, humanize.Bytes(ev.Result.Repository.Bytes), ev.Result.Repository.LimitText))
		}
	}
	inc, change, err := a.o.Incidents.Observe(ctx, ev)
	if err != nil {
		a.log.Warn("alerts: could not update incidents; this event raises no alert", "job", ev.Meta.JobID, "err", err)
		return
	}
	if change != alerts.None {
		a.o.Webhooks.Notify(string(change), inc)
	}
	switch change {
	case alerts.Opened:
		a.open(ctx, inc, fmt.Sprintf("❌ Job `%s` failed: %s", ev.Meta.JobID, ev.Error))
	case alerts.Repeated:
		if inc.Silenced(a.o.Now()) {
			return
		}
		a.update(ctx, inc, fmt.Sprintf("❌ Failed again (%d times): job `%s`: %s", inc.Failures, ev.Meta.JobID, ev.Error))
	case alerts.Cleared:
		a.update(ctx, inc, fmt.Sprintf("✅ Resolved: job `%s` succeeded. %s", ev.Meta.JobID, summary(ev)))
	}
}

func summary(ev jobs.Event) string {
	if ev.Result != nil {
		return ev.Result.Summary
	}
	return ""
}

// platforms lists the platforms with an on-call channel and a surface here.
func (a *Alerter) platforms() []Platform {
	var out []Platform
	for p := range a.o.Channels {
		if a.r.surface(p) != nil {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// open posts the root message and the first entry of its thread.
func (a *Alerter) open(ctx context.Context, inc *alerts.Incident, first string) {
	for _, p := range a.platforms() {
		s := a.r.surface(p)
		ref, err := s.Post(ctx, a.o.Channels[p], "", a.root(inc, true))
		a.r.count(string(p), "post", err)
		if err != nil {
			a.log.Warn("alerts: posting an incident", "incident", inc.ID, "platform", p, "err", err)
			continue
		}
		if _, err := a.o.Incidents.SetRoot(ctx, inc.ID, string(p), alerts.Ref{Channel: ref.Channel, ID: ref.ID}); err != nil {
			a.log.Warn("alerts: recording an incident's root message", "incident", inc.ID, "err", err)
		}
		_, err = s.Post(ctx, ref.Channel, ref.ID, Message{Text: first})
		a.r.count(string(p), "post", err)
	}
}

// update posts text in the incident's thread and redraws its root.
func (a *Alerter) update(ctx context.Context, inc *alerts.Incident, text string) {
	for p, ref := range inc.Roots {
		s := a.r.surface(Platform(p))
		if s == nil {
			continue
		}
		_, err := s.Post(ctx, ref.Channel, ref.ID, Message{Text: text})
		a.r.count(p, "post", err)
		err = s.Edit(ctx, MessageRef{Channel: ref.Channel, ID: ref.ID}, a.root(inc, false))
		a.r.count(p, "edit", err)
		if err != nil {
			a.log.Warn("alerts: editing an incident's root message", "incident", inc.ID, "platform", p, "err", err)
		}
	}
}

// root is the incident's root message: what failed and its state now.
func (a *Alerter) root(inc *alerts.Incident, opening bool) Message {
	what := map[string]string{"backup": "Backups of target", "verify": "Verify of storage", "restore-test": "Recovery drill of storage", "size": "Repository size of storage", "test": "Test of storage", "schedule": "Schedule", "storage": "Storage", "copy": "Copies of target"}[inc.Kind]
	var state string
	switch inc.State {
	case alerts.Open:
		state = "🔴 OPEN"
	case alerts.Acknowledged:
		state = fmt.Sprintf("🟠 ACKNOWLEDGED by %s at %s", inc.AckedBy, inc.AckedAt.Format("15:04 MST"))
	case alerts.Resolved:
		state = fmt.Sprintf("🟢 RESOLVED at %s by job `%s`", inc.ResolvedAt.Format("15:04 MST"), inc.ResolvedBy)
	}
	text := fmt.Sprintf("%s [%s] %s *%s* failing: incident `%s`", state, a.o.Severity, what, inc.Subject, inc.ID)
	if opening && len(a.o.Mentions) > 0 {
		text += "\n" + strings.Join(a.o.Mentions, " ")
	}
	m := Message{Text: text, Fields: []Field{
		{Label: "Failures", Value: strconv.Itoa(inc.Failures)},
		{Label: "Opened", Value: inc.OpenedAt.Format(time.RFC3339)},
		{Label: "Command", Value: "`" + inc.Command + "`"},
	}}
	if inc.Schedule != "" {
		m.Fields = append(m.Fields, Field{Label: "Schedule", Value: inc.Schedule})
	}
	if inc.LastError != "" {
		m.Fields = append(m.Fields, Field{Label: "Last error", Value: inc.LastError})
	}
	if !inc.SilencedUntil.IsZero() && inc.State != alerts.Resolved {
		m.Fields = append(m.Fields, Field{Label: "Silenced", Value: fmt.Sprintf("until %s by %s", inc.SilencedUntil.Format("15:04 MST"), inc.SilencedBy)})
	}
	if inc.State == alerts.Resolved {
		return m
	}
	if inc.State == alerts.Open {
		m.Buttons = append(m.Buttons, Button{ActionID: ActionIncidentAck, Label: "Acknowledge", Value: inc.ID, Style: "primary"})
	}
	m.Buttons = append(m.Buttons, Button{ActionID: ActionIncidentRetry, Label: "Retry now", Value: inc.ID})
	for _, h := range a.o.SilenceHours {
		m.Buttons = append(m.Buttons, Button{ActionID: ActionIncidentSilence, Label: fmt.Sprintf("Silence %dh", h), Value: fmt.Sprintf("%s:%d", inc.ID, h)})
	}
	return m
}

// Wrap returns a Handler that answers incident buttons and hands every
// other command and click to h.
func (a *Alerter) Wrap(h Handler) Handler { return alertHandler{a: a, next: h} }

type alertHandler struct {
	a    *Alerter
	next Handler
}

func (h alertHandler) HandleCommand(ctx context.Context, in Incoming) Reply {
	return h.next.HandleCommand(ctx, in)
}

func (h alertHandler) HandleClick(ctx context.Context, c Click) Reply {
	switch c.ActionID {
	case ActionIncidentAck, ActionIncidentRetry, ActionIncidentSilence:
		return h.a.click(ctx, c)
	}
	return h.next.HandleClick(ctx, c)
}

// click checks an incident button against the policy (whoever may run the
// failing command may act on its incident), records it in the audit log,
// and applies it.
func (a *Alerter) click(ctx context.Context, c Click) Reply {
	who := PolicyIdentity(c.From)
	id, hours := c.Value, 0
	if c.ActionID == ActionIncidentSilence {
		i := strings.LastIndexByte(c.Value, ':')
		n, err := strconv.Atoi(c.Value[i+1:])
		if i < 0 || err != nil || n <= 0 {
			return ephemeral(fmt.Sprintf("⚠️ Silence needs INCIDENT:HOURS, not %q.", c.Value))
		}
		id, hours = c.Value[:i], n
	}
	inc, err := a.o.Incidents.Get(ctx, id)
	if err != nil {
		return ephemeral("⚠️ " + err.Error())
	}
	cmd, err := a.r.config().Parser().Parse(inc.Command)
	if err != nil {
		return ephemeral("⚠️ Could not re-read the incident's command: " + err.Error())
	}
	channel := c.Message.Channel
	if d := a.r.policy.Decide(who, channel, cmd); !d.Allowed {
		a.r.record(ctx, audit.Entry{Kind: AuditIncidentRefused, User: who, Channel: channel, Command: inc.Command, Action: c.ActionID, Reason: d.Reason, Detail: "incident " + inc.ID})
		return ephemeral(fmt.Sprintf("⛔ %s: you may not act on incident `%s` (it needs a role that may run `%s`): %s.", who.Display(), inc.ID, inc.Command, d.Reason))
	}
	switch c.ActionID {
	case ActionIncidentAck:
		inc, err = a.o.Incidents.Acknowledge(ctx, id, who.Display())
		if err != nil {
			return ephemeral("ℹ️ " + err.Error())
		}
		a.o.Webhooks.Notify("acknowledged", inc)
		a.r.record(ctx, audit.Entry{Kind: AuditIncidentAcknowledged, User: who, Channel: channel, Command: inc.Command, Detail: "incident " + inc.ID})
		a.update(ctx, inc, fmt.Sprintf("👀 Acknowledged by %s.", who.Display()))
		return ephemeral(fmt.Sprintf("👀 You acknowledged incident `%s`.", inc.ID))
	case ActionIncidentSilence:
		inc, err = a.o.Incidents.Silence(ctx, id, who.Display(), time.Duration(hours)*time.Hour)
		if err != nil {
			return ephemeral("ℹ️ " + err.Error())
		}
		a.o.Webhooks.Notify("silenced", inc)
		a.r.record(ctx, audit.Entry{Kind: AuditIncidentSilenced, User: who, Channel: channel, Command: inc.Command, Detail: fmt.Sprintf("incident %s for %dh", inc.ID, hours)})
		a.update(ctx, inc, fmt.Sprintf("🔕 Silenced for %d h by %s: repeats are not posted until %s.", hours, who.Display(), inc.SilencedUntil.Format("15:04 MST")))
		return ephemeral(fmt.Sprintf("🔕 Incident `%s` silenced for %d h.", inc.ID, hours))
	}
	// Retry now: the failing command again, as the person who clicked.
	meta, err := a.r.jobs.Enqueue(ctx, cmd, jobs.Meta{Requester: who, Channel: channel, Text: inc.Command})
	if err != nil {
		return ephemeral(a.r.enqueueFailed(meta, err))
	}
	a.r.record(ctx, audit.Entry{Kind: AuditIncidentRetried, User: who, Channel: channel, Command: inc.Command, JobID: meta.JobID, Detail: "incident " + inc.ID})
	a.update(ctx, inc, fmt.Sprintf("🔁 %s retried it now as job `%s`.", who.Display(), meta.JobID))
	return ephemeral(fmt.Sprintf("🔁 Retrying as job `%s`; the incident resolves when it succeeds.", meta.JobID))
}
