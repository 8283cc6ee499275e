package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/policy/approval"
	"github.com/backupbot/backupbot/policy/audit"
)

// confirmKeyPrefix keys a pending confirmation by its preview job id.
const confirmKeyPrefix = "backupbot:confirm:"

// confirmation is a command (a writing restore, a cleanup) waiting for its
// requester's Confirm.
type confirmation struct {
	Text      string          `json:"text"` // the command to run
	Requester policy.Identity `json:"requester"`
	Channel   string          `json:"channel"`
	Thread    string          `json:"thread"`
	ExpiresAt time.Time       `json:"expires_at"`
}

func (r *Router) saveConfirmation(ctx context.Context, id string, c confirmation, ttl time.Duration) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode confirmation %s: %w", id, err)
	}
	if err := r.rdb.Set(ctx, confirmKeyPrefix+id, b, ttl).Err(); err != nil {
		return fmt.Errorf("store confirmation %s in Redis: %w", id, err)
	}
	return nil
}

// succeeded shows a finished job's result, and for a preview does what it
// was for: ask for confirmation, ask for approval, or approve.
func (r *Router) succeeded(ctx context.Context, s Surface, platform string, jr *jobRelay, ev jobs.Event) {
	msg := resultMessage(ev)
	x := r.loadExtra(ctx, jr.id, ev.Action, ev.Meta.Text)
	switch x.Purpose {
	case purposeConfirm:
		msg = r.askConfirmation(ctx, jr, ev, x, msg)
	case purposeApproval:
		msg = r.askApproval(ctx, jr, ev, x, msg)
	case purposeApproveCheck:
		r.post(ctx, s, platform, jr, msg)
		r.approveChecked(ctx, s, platform, jr, ev, x)
		return
	}
	r.post(ctx, s, platform, jr, msg)
	if ev.Result != nil {
		r.attach(ctx, s, platform, jr, ev.Result.Report)
	}
}

func (r *Router) askConfirmation(ctx context.Context, jr *jobRelay, ev jobs.Event, x relayExtra, msg Message) Message {
	w := confirmWordsFor(ev.Action)
	if ev.Action == string(commands.ActionCleanup) && nothingToRemove(ev) {
		msg.Text += fmt.Sprintf("\nNothing to remove, so nothing to confirm: `%s` was not run.", x.Original)
		return msg
	}
	ttl := r.policy.Policy().ApprovalTTL()
	c := confirmation{Text: x.Original, Requester: ev.Meta.Requester, Channel: jr.channel, Thread: jr.thread, ExpiresAt: time.Now().Add(ttl)}
	if err := r.saveConfirmation(ctx, jr.id, c, ttl); err != nil {
		msg.Text += "\n⚠️ Could not store the confirmation (" + err.Error() + "); run the command again."
		return msg
	}
	msg.Text += fmt.Sprintf("\n%s: press *Confirm* to run `%s` %s, or *Cancel*. Expires %s.",
		ev.Meta.Requester.Display(), x.Original, w.asPreviewed, expiresIn(c.ExpiresAt))
	msg.Buttons = []Button{
		{ActionID: ActionConfirm, Label: "Confirm " + w.noun, Value: jr.id, Style: "primary"},
		{ActionID: ActionCancel, Label: "Cancel", Value: jr.id},
	}
	return msg
}

// confirmWords word a confirmation for the action it is for.
type confirmWords struct {
	noun, running, nothingDone, asPreviewed string
}

func confirmWordsFor(action string) confirmWords {
	if action == string(commands.ActionCleanup) {
		return confirmWords{noun: "cleanup", running: "Cleaning up", nothingDone: "nothing was removed",
			asPreviewed: "(it decides again when it runs, by the same rules)"}
	}
	return confirmWords{noun: "restore", running: "Restoring", nothingDone: "nothing was restored", asPreviewed: "exactly as previewed"}
}

// actionOf is the action of a command's canonical text (commands.Render
// puts it first).
func actionOf(text string) string {
	f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(text), "/backup"))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// nothingToRemove reports whether a cleanup dry run found nothing to remove.
func nothingToRemove(ev jobs.Event) bool {
	if ev.Result == nil {
		return false
	}
	var cr struct {
		Removed []json.RawMessage `json:"removed"`
	}
	return json.Unmarshal(ev.Result.Data, &cr) == nil && len(cr.Removed) == 0
}

func (r *Router) askApproval(ctx context.Context, jr *jobRelay, ev jobs.Event, x relayExtra, msg Message) Message {
	cmd, err := r.config().Parser().Parse(x.Original)
	if err != nil {
		msg.Text += "\n⚠️ Could not re-read the command to approve: " + err.Error()
		return msg
	}
	var plan []byte
	if ev.Result != nil {
		plan = ev.Result.Plan.Bytes()
	}
	a, err := r.approvals.Request(ctx, approval.Request{
		Requester: ev.Meta.Requester, Channel: jr.channel, Thread: jr.thread,
		Command: cmd, Text: x.Original, PlanHash: policy.PlanHash(cmd, plan),
		Extra: map[string]string{"preview_job": jr.id},
	})
	if err != nil {
		msg.Text += "\n⚠️ Could not create the approval request: " + err.Error()
		return msg
	}
	r.record(ctx, audit.Entry{Kind: audit.ApprovalRequested, User: ev.Meta.Requester, Channel: jr.channel, Command: x.Original, ApprovalID: a.ID, Detail: "plan " + a.PlanHash})
	msg.Text += fmt.Sprintf("\n🔐 `%s` needs approval by someone with role %s other than %s. Approval `%s` is bound to this plan, works once and expires %s.",
		x.Original, strings.Join(r.policy.Policy().ApproverRoles(), " or "), ev.Meta.Requester.Display(), a.ID, expiresIn(a.ExpiresAt))
	msg.Buttons = []Button{
		{ActionID: ActionApprove, Label: "Approve", Value: a.ID, Style: "primary"},
		{ActionID: ActionDeny, Label: "Deny", Value: a.ID, Style: "danger"},
	}
	return msg
}

// approveChecked runs after the re-preview an Approve click started: the
// approval goes through only if the plan is the one that was shown.
func (r *Router) approveChecked(ctx context.Context, s Surface, platform string, jr *jobRelay, ev jobs.Event, x relayExtra) {
	if x.Approver == nil || r.approvals == nil {
		return
	}
	a, err := r.approvals.Get(ctx, x.Approval)
	if err != nil {
		r.post(ctx, s, platform, jr, Message{Text: "⛔ " + err.Error()})
		return
	}
	cmd, err := r.config().Parser().Parse(a.Text)
	if err != nil {
		r.post(ctx, s, platform, jr, Message{Text: "⛔ Could not re-read the approved command: " + err.Error()})
		return
	}
	var plan []byte
	if ev.Result != nil {
		plan = ev.Result.Plan.Bytes()
	}
	a, err = r.approvals.Approve(ctx, x.Approval, *x.Approver, policy.PlanHash(cmd, plan))
	if err != nil {
		r.record(ctx, audit.Entry{Kind: audit.ApprovalRefused, User: *x.Approver, Channel: jr.channel, Command: a.Text, ApprovalID: x.Approval, Error: err.Error()})
		r.post(ctx, s, platform, jr, Message{Text: fmt.Sprintf("⛔ Approval `%s` by %s refused: %s", x.Approval, x.Approver.Display(), err)})
		return
	}
	r.record(ctx, audit.Entry{Kind: audit.Approved, User: *x.Approver, Channel: jr.channel, Command: a.Text, ApprovalID: a.ID})
	meta, _, err := r.enqueue(ctx, cmd, jobs.Meta{Requester: a.Requester, Channel: a.Channel, Thread: a.Thread, Text: a.Text}, "approved:"+a.ID)
	if err != nil {
		r.post(ctx, s, platform, jr, Message{Text: "⚠️ Approved, but the restore could not be queued: " + err.Error() + ". Ask for a new approval once the queue is back."})
		return
	}
	r.post(ctx, s, platform, jr, Message{Text: fmt.Sprintf("👍 Approved by %s (plan unchanged). Running `%s` as job `%s`.", x.Approver.Display(), a.Text, meta.JobID)})
}

// HandleClick maps a button press back to its job, confirmation or
// approval, checked against the policy for the user who clicked.
func (r *Router) HandleClick(ctx context.Context, c Click) (reply Reply) {
	defer func() { reply.Message = redactMessage(reply.Message, r.redact) }()
	defer r.auditWritten(ctx)
	who := PolicyIdentity(c.From)
	value := strings.TrimSpace(c.Value)
	switch c.ActionID {
	case ActionConfirm:
		return r.confirm(ctx, who, c, value)
	case ActionCancel:
		return r.cancelConfirmation(ctx, who, value)
	case ActionApprove:
		return r.approve(ctx, who, value, c.Message)
	case ActionDeny:
		return r.deny(ctx, who, value)
	case ActionRetry:
		return r.retry(ctx, c, value)
	}
	return ephemeral(fmt.Sprintf("⚠️ Unknown button %q.", c.ActionID))
}

func (r *Router) loadConfirmation(ctx context.Context, id string) (confirmation, error) {
	var cf confirmation
	b, err := r.rdb.Get(ctx, confirmKeyPrefix+id).Bytes()
	if errors.Is(err, redis.Nil) {
		return cf, fmt.Errorf("there is no pending confirmation `%s`: it was already used, canceled, or it expired; run the command again", id)
	}
	if err != nil {
		return cf, fmt.Errorf("read confirmation %s from Redis: %w", id, err)
	}
	if err := json.Unmarshal(b, &cf); err != nil {
		return cf, fmt.Errorf("decode confirmation %s: %w", id, err)
	}
	return cf, nil
}

// requestersConfirmation loads confirmation id for who to act on (verb:
// "confirm", "cancel"): only its requester may. On refusal it returns the
// reason instead.
func (r *Router) requestersConfirmation(ctx context.Context, who policy.Identity, id, verb string) (confirmation, confirmWords, string) {
	cf, err := r.loadConfirmation(ctx, id)
	if err != nil {
		return cf, confirmWords{}, "⛔ " + err.Error()
	}
	w := confirmWordsFor(actionOf(cf.Text))
	if !cf.Requester.Same(who) {
		return cf, w, fmt.Sprintf("⛔ Only %s, who asked for this %s, can %s it.", cf.Requester.Display(), w.noun, verb)
	}
	return cf, w, ""
}

func (r *Router) confirm(ctx context.Context, who policy.Identity, c Click, id string) Reply {
	cf, w, refused := r.requestersConfirmation(ctx, who, id, "confirm")
	if refused != "" {
		return ephemeral(refused)
	}
	conf := r.config()
	cmd, err := conf.Parser().Parse(cf.Text)
	if err != nil {
		return ephemeral("⚠️ Could not re-read the " + w.noun + ": " + err.Error())
	}
	if err := conf.Admit(cmd); err != nil {
		return ephemeral("⚠️ The configuration changed since: " + err.Error())
	}
	if d := r.policy.Decide(who, cf.Channel, cmd); !d.Allowed {
		r.record(ctx, audit.Decided(who, cf.Channel, cf.Text, cmd, d))
		return ephemeral("⛔ Not allowed any more: " + d.Reason + ".")
	}
	// Single use: only the click that deletes the key runs the restore.
	n, err := r.rdb.Del(ctx, confirmKeyPrefix+id).Result()
	if err != nil {
		return ephemeral(r.queueDown(err))
	}
	if n == 0 {
		return ephemeral("⛔ This " + w.noun + " was already confirmed or canceled.")
	}
	meta, _, err := r.enqueue(ctx, cmd, jobs.Meta{Requester: who, Channel: cf.Channel, Thread: cf.Thread, Text: cf.Text}, "confirm:"+id)
	if err != nil {
		return ephemeral(r.enqueueFailed(meta, err))
	}
	r.record(ctx, audit.Entry{Kind: audit.Confirmed, User: who, Channel: cf.Channel, Command: cf.Text, JobID: meta.JobID})
	return ephemeral(fmt.Sprintf("▶️ Confirmed. %s as job `%s`; progress follows in the thread.", w.running, meta.JobID))
}

func (r *Router) cancelConfirmation(ctx context.Context, who policy.Identity, id string) Reply {
	cf, w, refused := r.requestersConfirmation(ctx, who, id, "cancel")
	if refused != "" {
		return ephemeral(refused)
	}
	if n, err := r.rdb.Del(ctx, confirmKeyPrefix+id).Result(); err != nil || n == 0 {
		return ephemeral("ℹ️ This " + w.noun + " was already confirmed or canceled.")
	}
	r.record(ctx, audit.Entry{Kind: audit.Withdrawn, User: who, Channel: cf.Channel, Command: cf.Text, Detail: "the requester canceled the " + w.noun + " at its confirmation"})
	r.postToThread(ctx, who.Platform, cf.Channel, cf.Thread, Message{Text: fmt.Sprintf("✖️ %s canceled `%s`; %s.", who.Display(), cf.Text, w.nothingDone)})
	return ephemeral("✖️ Canceled; " + w.nothingDone + ".")
}

// approve checks what can be checked at once (who clicks, the request's
// state), then re-runs the preview: the approval only goes through if the
// plan is still the one that was shown.
func (r *Router) approve(ctx context.Context, who policy.Identity, id string, clicked MessageRef) Reply {
	if r.approvals == nil {
		return ephemeral("ℹ️ Approvals are not set up on this bot.")
	}
	a, err := r.approvals.Get(ctx, id)
	if err != nil {
		return ephemeral("⛔ " + err.Error())
	}
	refuse := func(text string) Reply {
		r.record(ctx, audit.Entry{Kind: audit.ApprovalRefused, User: who, Channel: a.Channel, Command: a.Text, ApprovalID: a.ID, Error: text})
		// In the request's thread: the one the clicked request lives in,
		// or the thread under the request message itself.
		channel, thread := a.Channel, a.Thread
		if clicked.ID != "" {
			thread = clicked.ID
			if clicked.Thread != "" {
				thread = clicked.Thread
			}
			if clicked.Channel != "" {
				channel = clicked.Channel
			}
		}
		r.postToThread(ctx, a.Requester.Platform, channel, thread, Message{Text: fmt.Sprintf("⛔ %s tried to approve `%s`: refused, %s.", who.Display(), a.ID, text)})
		return ephemeral("⛔ Refused: " + text + ".")
	}
	roles := strings.Join(r.policy.Policy().ApproverRoles(), " or ")
	switch {
	case a.Requester.Same(who):
		return refuse(fmt.Sprintf("%s (%s), another person with the %s role must approve it", approval.ErrSelfApproval, a.ID, roles))
	case !r.policy.Policy().CanApprove(who):
		return refuse(fmt.Sprintf("%s: approving %s needs the %s role", approval.ErrNotApprover, a.ID, roles))
	case a.State == approval.Expired || (a.State == approval.Pending && !a.ExpiresAt.IsZero() && time.Now().After(a.ExpiresAt)):
		return refuse(fmt.Sprintf("%s (%s expired at %s); the requester must ask again with a fresh preview", approval.ErrExpired, a.ID, a.ExpiresAt.Local().Format("15:04 MST")))
	case a.State != approval.Pending:
		by := ""
		if a.DecidedBy != nil {
			by = " by " + a.DecidedBy.Display()
		}
		return refuse(fmt.Sprintf("%s (%s is %s%s); a request is used only once", approval.ErrAlreadyDecided, a.ID, a.State, by))
	}
	_, isRestore := a.Command.(*commands.Restore)
	preview := previewOf(a.Command)
	if !isRestore || preview == nil {
		// Only restores have a plan to re-check; approve directly.
		return r.approveNow(ctx, who, a)
	}
	// The re-preview runs as the requester: it is their restore being
	// checked, and the approver may hold no role that runs restores.
	meta, err := r.enqueuePreview(ctx, preview, jobs.Meta{Requester: a.Requester, Channel: a.Channel, Thread: a.Thread, Text: a.Text},
		relayExtra{Purpose: purposeApproveCheck, Approval: a.ID, Approver: &who}, "")
	if err != nil {
		return ephemeral(r.enqueueFailed(meta, err))
	}
	return ephemeral(fmt.Sprintf("🔎 Checking that the plan is unchanged (job `%s`); the approval goes through when it is.", meta.JobID))
}

// approveNow approves a request whose command has no plan to re-check.
func (r *Router) approveNow(ctx context.Context, who policy.Identity, a approval.Approval) Reply {
	a, err := r.approvals.Approve(ctx, a.ID, who, a.PlanHash)
	if err != nil {
		r.record(ctx, audit.Entry{Kind: audit.ApprovalRefused, User: who, Channel: a.Channel, Command: a.Text, ApprovalID: a.ID, Error: err.Error()})
		return ephemeral("⛔ Refused: " + err.Error())
	}
	r.record(ctx, audit.Entry{Kind: audit.Approved, User: who, Channel: a.Channel, Command: a.Text, ApprovalID: a.ID})
	cmd, err := r.config().Parser().Parse(a.Text)
	if err != nil {
		return ephemeral("⚠️ Could not re-read the approved command: " + err.Error())
	}
	meta, _, err := r.enqueue(ctx, cmd, jobs.Meta{Requester: a.Requester, Channel: a.Channel, Thread: a.Thread, Text: a.Text}, "approved:"+a.ID)
	if err != nil {
		return ephemeral(r.enqueueFailed(meta, err))
	}
	r.postToThread(ctx, a.Requester.Platform, a.Channel, a.Thread, Message{Text: fmt.Sprintf("👍 Approved by %s. Running `%s` as job `%s`.", who.Display(), a.Text, meta.JobID)})
	return ephemeral("👍 Approved; job `" + meta.JobID + "`.")
}

func (r *Router) deny(ctx context.Context, who policy.Identity, id string) Reply {
	if r.approvals == nil {
		return ephemeral("ℹ️ Approvals are not set up on this bot.")
	}
	a, err := r.approvals.Deny(ctx, id, who)
	if err != nil {
		r.record(ctx, audit.Entry{Kind: audit.ApprovalRefused, User: who, ApprovalID: id, Error: err.Error()})
		return ephemeral("⛔ " + err.Error())
	}
	r.record(ctx, audit.Entry{Kind: audit.Denied, User: who, Channel: a.Channel, Command: a.Text, ApprovalID: a.ID})
	r.postToThread(ctx, a.Requester.Platform, a.Channel, a.Thread, Message{Text: fmt.Sprintf("👎 %s denied `%s` (approval `%s`); nothing was restored.", who.Display(), a.Text, a.ID)})
	return ephemeral("👎 Denied.")
}

// retry runs a failed job's command again, as the user who clicked, in
// the same thread.
func (r *Router) retry(ctx context.Context, c Click, jobID string) Reply {
	st, err := r.jobs.Status(ctx, jobID)
	if err != nil {
		return ephemeral("⚠️ " + err.Error())
	}
	if !slices.Contains([]jobs.State{jobs.StateFailed, jobs.StateCanceled}, st.State) {
		return ephemeral(fmt.Sprintf("ℹ️ Job `%s` is %s; only a failed or canceled job can be retried.", jobID, st.State))
	}
	text := st.Meta.Text
	if x := r.loadExtra(ctx, jobID, "", ""); x.Original != "" {
		text = x.Original // a preview: retry what it was for
	}
	thread := st.Meta.Thread
	if t, err := r.rdb.HGet(ctx, relayKey(jobID), rfThread).Result(); err == nil && t != "" {
		thread = t
	}
	channel := st.Meta.Channel
	if c.Message.Channel != "" {
		channel = c.Message.Channel
	}
	return r.HandleCommand(ctx, Incoming{From: c.From, Channel: channel, Thread: thread, Text: text})
}
