package bot

import (
	"context"
	"strings"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/policy/audit"
)

// auditShown is how many entries `/backup audit` shows.
const auditShown = 30

// record queues an audit entry for the background writer (the ack does
// not wait on it); a failure is logged, never shown to users.
func (r *Router) record(ctx context.Context, e audit.Entry) {
	if r.audit == nil {
		return
	}
	r.auditQ.add(ctx, e)
}

func (r *Router) answerAudit(ctx context.Context, c *commands.Audit) Reply {
	if r.audit == nil {
		return ephemeral("ℹ️ The audit log is not set up on this bot.")
	}
	fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	r.auditQ.flush(fctx) // entries of this session's commands first
	cancel()
	f := audit.Filter{User: c.User, Limit: auditShown}
	if c.Age > 0 {
		f.Since = time.Now().Add(-time.Duration(c.Age) * 24 * time.Hour)
	}
	entries, err := r.audit.Query(ctx, f)
	if err != nil {
		return ephemeral("⚠️ Could not read the audit log: " + err.Error())
	}
	return ephemeral(listText(entries, "The audit log has no entries for that filter.",
		"Audit log, the %d newest entries (oldest first):\n```", "\n```", auditLine))
}

// auditLine renders one entry as one line.
func auditLine(e audit.Entry) string {
	parts := []string{e.Time.Local().Format("01-02 15:04:05"), string(e.Kind), e.User.Display()}
	if e.Channel != "" {
		parts = append(parts, "in "+e.Channel)
	}
	if e.Command != "" {
		parts = append(parts, "`"+e.Command+"`")
	}
	if e.Allowed != nil {
		verdict := "denied"
		if *e.Allowed {
			verdict = "allowed"
		}
		parts = append(parts, verdict+" by "+e.Rule)
	}
	for _, kv := range [][2]string{{"job", e.JobID}, {"approval", e.ApprovalID}, {"error", e.Error}, {"", e.Detail}} {
		if kv[1] == "" {
			continue
		}
		if kv[0] == "" {
			parts = append(parts, kv[1])
			continue
		}
		parts = append(parts, kv[0]+" "+kv[1])
	}
	return strings.Join(parts, " · ")
}
