package bot

import (
	"strings"
	"testing"

	"github.com/backupbot/backupbot/jobs"
)

// A failure a retry cannot fix (a full storage, bad credentials) is
// posted without a Retry button; others keep it.
func TestPermanentFailureOffersNoRetry(t *testing.T) {
	ev := jobs.Event{Kind: jobs.EventFailed, Meta: jobs.Meta{JobID: "j1"}, Attempt: 1,
		Error: "no space left on the storage", StoragePermanent: true}
	m := failureMessage(ev)
	if len(m.Buttons) != 0 || strings.Contains(m.Text, "Retry") {
		t.Errorf("permanent failure message %q has buttons %v; want no Retry", m.Text, m.Buttons)
	}
	if !strings.Contains(m.Text, "no space left on the storage") || !strings.Contains(m.Text, "run the command again") {
		t.Errorf("message %q does not give the cause and the way out", m.Text)
	}
	ev.StoragePermanent = false
	if m := failureMessage(ev); len(m.Buttons) != 1 || m.Buttons[0].ActionID != ActionRetry {
		t.Errorf("transient failure message has buttons %v; want Retry", m.Buttons)
	}
}
