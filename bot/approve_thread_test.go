package bot_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/jobs"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/policy/approval"
)

// threadSurface records where each post went.
type threadSurface struct {
	mu    sync.Mutex
	n     int
	posts []struct{ channel, thread, text string }
}

func (s *threadSurface) Post(_ context.Context, channel, thread string, m bot.Message) (bot.MessageRef, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	s.posts = append(s.posts, struct{ channel, thread, text string }{channel, thread, m.Text})
	return bot.MessageRef{Channel: channel, ID: fmt.Sprintf("m%d", s.n), Thread: thread}, nil
}
func (s *threadSurface) Ephemeral(context.Context, string, string, string, bot.Message) error {
	return nil
}
func (s *threadSurface) Edit(context.Context, bot.MessageRef, bot.Message) error { return nil }
func (s *threadSurface) Attach(context.Context, string, string, string, []byte, string) error {
	return nil
}

// A refused Approve click is told in the request's thread, not top-level.
func TestRefusedApproveIsPostedInTheRequestsThread(t *testing.T) {
	rdb := redisClient(t)
	quiet := slog.New(slog.DiscardHandler)
	cfg := policy.DefaultConfig()
	cfg.Bindings = map[string][]string{"admin": {"slack:UALICE"}, "viewer": {"slack:UCAROL"}}
	cfg.Approval.Required = append(cfg.Approval.Required, policy.Rule{Actions: []string{"cleanup"}, Flags: map[string]bool{"force": true}})
	p, err := policy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	holder := policy.NewHolder(p)
	client := jobs.NewClient(nil, rdb, jobs.ClientOptions{Logger: quiet})
	defer client.Close()
	surface := &threadSurface{}
	r := bot.NewRouter(bot.RouterOptions{
		Parser: commands.Parser{Targets: []string{"data"}, Storages: []string{"local"}}, Jobs: client, Redis: rdb, Policy: holder, Logger: quiet,
		Approvals: approval.New(rdb, holder, approval.Options{}),
		Surfaces:  map[bot.Platform]bot.Surface{bot.Slack: surface},
	})
	ctx := context.Background()
	reply := r.HandleCommand(ctx, bot.Incoming{From: bot.Identity{Platform: bot.Slack, UserID: "UALICE"}, Channel: "C0OPS", Text: "/backup cleanup --older-than 30 --force"})
	if !strings.Contains(reply.Message.Text, "needs approval") {
		t.Fatalf("reply %q", reply.Message.Text)
	}
	if len(surface.posts) != 1 {
		t.Fatalf("posts: %+v", surface.posts)
	}
	request := bot.MessageRef{Channel: "C0OPS", ID: "m1"}
	var id string
	for _, f := range strings.Fields(surface.posts[0].text) {
		if strings.HasPrefix(f, "`") && len(f) == 10 {
			id = strings.Trim(f, "`")
		}
	}
	if id == "" {
		t.Fatalf("no approval id in %q", surface.posts[0].text)
	}
	for _, who := range []string{"UALICE", "UCAROL"} { // the requester, then a non-approver
		reply = r.HandleClick(ctx, bot.Click{From: bot.Identity{Platform: bot.Slack, UserID: who}, Message: request, ActionID: bot.ActionApprove, Value: id})
		if !strings.Contains(reply.Message.Text, "Refused") {
			t.Fatalf("click by %s: %q", who, reply.Message.Text)
		}
		last := surface.posts[len(surface.posts)-1]
		if !strings.Contains(last.text, "tried to approve") || last.thread != "m1" || last.channel != "C0OPS" {
			t.Errorf("the refusal of %s went to channel %q thread %q, want the request's thread m1: %q", who, last.channel, last.thread, last.text)
		}
	}
}
