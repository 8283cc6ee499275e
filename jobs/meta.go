package jobs

import (
	"time"

	"github.com/backupbot/backupbot/policy"
)

// Meta travels with every job: who asked, where to answer, and what they
// typed. The worker never trusts it for authority: the requester is checked
// against the policy again before any work starts.
type Meta struct {
	// JobID is short and readable (8 hex digits); Enqueue assigns it.
	JobID string `json:"job_id"`
	// Requester is who asked, as the platform knows them.
	Requester policy.Identity `json:"requester"`
	// Channel and Thread say where progress and the result go.
	Channel string `json:"channel,omitempty"`
	Thread  string `json:"thread,omitempty"`
	// Text is the canonical command text (commands.Render), for messages and audit.
	Text string `json:"text,omitempty"`
	// EnqueuedAt is set by Enqueue.
	EnqueuedAt time.Time `json:"enqueued_at"`
	// Schedule names the schedule that fired this job ("" for a chat command).
	Schedule string `json:"schedule,omitempty"`
}
