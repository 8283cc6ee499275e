package adapterbase

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot"
)

func TestAnswerWithinTheDeadlineOrLate(t *testing.T) {
	quick := func(context.Context) bot.Reply { return bot.Reply{Message: bot.Message{Text: "done"}} }
	if rep, late := Answer(context.Background(), time.Second, quick); late != nil || rep.Message.Text != "done" {
		t.Errorf("a quick handler: reply %+v, late %v; want its reply in time", rep, late)
	}

	// The slow handler sees its context end with the deadline, and answers
	// only once Answer has given up on it (released below), so the test
	// does not depend on which of the two deadlines fires first.
	release := make(chan struct{})
	slow := func(ctx context.Context) bot.Reply {
		<-ctx.Done() // the handler's context ends with the deadline
		<-release
		return bot.Reply{Message: bot.Message{Text: "too late"}}
	}
	rep, late := Answer(context.Background(), 20*time.Millisecond, slow)
	close(release)
	if late == nil {
		t.Fatalf("a handler still working at the deadline answered in time: %+v", rep)
	}
	select {
	case rep := <-late:
		if rep.Message.Text != "too late" {
			t.Errorf("late reply %+v, want the handler's own", rep)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the late reply never came")
	}
}

func TestGateRejectsOversizedBodies(t *testing.T) {
	g := Gate{Name: "test", Log: slog.New(slog.DiscardHandler), MaxBodyBytes: 8}
	for body, want := range map[string]int{"small": http.StatusOK, "larger than eight": http.StatusRequestEntityTooLarge} {
		w := httptest.NewRecorder()
		got, ok := g.Body(w, httptest.NewRequest("POST", "/x", strings.NewReader(body)))
		if want == http.StatusOK && (!ok || string(got) != body) {
			t.Errorf("Body(%q) = %q, %v; want it whole", body, got, ok)
		}
		if want != http.StatusOK && (ok || w.Code != want) {
			t.Errorf("Body(%q): ok %v, status %d; want %d", body, ok, w.Code, want)
		}
	}
}

func TestDefaultsAndHTTPClient(t *testing.T) {
	d, n := time.Duration(0), int64(-1)
	Default(&d, time.Second)
	Default(&n, 64)
	if d != time.Second || n != 64 {
		t.Errorf("unset options became %v and %d, want their defaults", d, n)
	}
	set := 3 * time.Second
	Default(&set, time.Second)
	if set != 3*time.Second {
		t.Errorf("a set option became %v", set)
	}

	if hc := HTTPClient(nil, nil, bot.Slack, nil); hc.Timeout != DefaultHTTPTimeout {
		t.Errorf("default client timeout %v, want %v", hc.Timeout, DefaultHTTPTimeout)
	}
	mine := &http.Client{Timeout: time.Minute}
	if hc := HTTPClient(mine, nil, bot.Slack, nil); hc != mine {
		t.Error("without error counting the caller's client is not used as is")
	}
}
