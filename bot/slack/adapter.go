// Package slack is backupbot's Slack adapter. It takes /backup slash
// commands and Block Kit button clicks from Slack, over signed HTTP
// (POST /slack/commands, POST /slack/interactions) or over Socket Mode,
// hands them to a bot.Handler, and implements bot.Surface on Slack's Web
// API: chat.postMessage into threads, chat.update for live progress
// (throttled per message, coalesced, retried after rate limits),
// chat.postEphemeral for private answers and the files upload v2 path for
// long output. Users' Slack user groups, cached, become Identity.Groups.
package slack

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/adapterbase"
	"github.com/backupbot/backupbot/bot/editqueue"
	"github.com/backupbot/backupbot/internal/tick"
)

// Defaults for the zero values of Options.
const (
	DefaultGroupCacheTTL = 5 * time.Minute
	DefaultEditInterval  = time.Second
	DefaultAckTimeout    = 2500 * time.Millisecond
	DefaultMaxBodyBytes  = 64 << 10
)

// queueUnavailable is the answer when the handler does not reply to a
// click in time.
const queueUnavailable = "The job queue is unavailable right now, try again in a minute."

// stillWorking acknowledges a command whose answer takes longer than the
// acknowledgement may; the answer follows.
const stillWorking = "⏳ Working on it: the answer follows here in a moment."

// Options configure an Adapter.
type Options struct {
	// BotToken is the xoxb- token for the Web API (SLACK_BOT_TOKEN).
	BotToken string
	// SigningSecret verifies HTTP requests (SLACK_SIGNING_SECRET). Without
	// it every HTTP request is rejected; Socket Mode does not need it.
	SigningSecret string
	// AppToken is the xapp- token for Socket Mode (SLACK_APP_TOKEN).
	AppToken string
	// APIURL overrides the Web API base address (SLACK_API_URL), e.g.
	// "http://127.0.0.1:9999/api/". Empty means Slack's.
	APIURL string
	// Handler receives commands and clicks (the router). It may be nil
	// here and set later with SetHandler, since the router usually needs
	// the adapter as its Surface first.
	Handler bot.Handler
	// HTTPClient makes the Web API calls (default: one with a 30 s timeout).
	HTTPClient *http.Client
	Logger     *slog.Logger
	// GroupCacheTTL is how long user-group memberships are trusted before a
	// background refresh (default 5 minutes).
	GroupCacheTTL time.Duration
	// EditInterval is the least time between two chat.update calls for
	// one message (default 1 s); edits arriving faster are coalesced.
	EditInterval time.Duration
	// AckTimeout bounds how long a command waits for the handler before
	// Slack is told the queue is unavailable (default 2.5 s; Slack gives
	// up after 3 s).
	AckTimeout time.Duration
	// MaxBodyBytes limits the size of an HTTP request body (default 64 KiB).
	MaxBodyBytes int64
	// APIErrors counts the Web API calls that fail: answered 429, with an
	// error ("ok": false or an HTTP error), or not at all. Nil counts none.
	APIErrors *bot.ChatAPIErrors
}

// Adapter is the Slack adapter: HTTP endpoints, Socket Mode and a
// bot.Surface. Create it with NewAdapter.
type Adapter struct {
	opts   Options
	api    *slackapi.Client
	log    *slog.Logger
	gate   adapterbase.Gate
	groups *groupCache
	edits  *editqueue.Queue
	// base holds the handler and the click answers still being posted,
	// so Close can wait.
	base adapterbase.Base
}

// NewAdapter checks opts and builds an Adapter. It makes no network call.
func NewAdapter(opts Options) (*Adapter, error) {
	if opts.BotToken == "" {
		return nil, errors.New("slack: the bot token is empty: set SLACK_BOT_TOKEN to the app's xoxb- token")
	}
	if opts.SigningSecret == "" && opts.AppToken == "" {
		return nil, errors.New("slack: neither a signing secret (SLACK_SIGNING_SECRET, for the HTTP endpoints) " +
			"nor an app token (SLACK_APP_TOKEN, for Socket Mode) is set: the adapter could not receive anything")
	}
	opts.HTTPClient = adapterbase.HTTPClient(opts.HTTPClient, opts.APIErrors, bot.Slack, func(counted http.RoundTripper) http.RoundTripper {
		return slackErrors{errs: opts.APIErrors, next: counted}
	})
	opts.Logger = cmp.Or(opts.Logger, slog.Default())
	adapterbase.Default(&opts.GroupCacheTTL, DefaultGroupCacheTTL)
	adapterbase.Default(&opts.EditInterval, DefaultEditInterval)
	adapterbase.Default(&opts.AckTimeout, DefaultAckTimeout)
	adapterbase.Default(&opts.MaxBodyBytes, DefaultMaxBodyBytes)
	a := &Adapter{opts: opts, log: opts.Logger.With(slog.String("adapter", "slack"))}
	a.gate = adapterbase.Gate{Name: "slack", Log: a.log, MaxBodyBytes: opts.MaxBodyBytes}
	a.api = slackapi.New(opts.BotToken, a.clientOptions()...)
	a.groups = newGroupCache(a.api, opts.GroupCacheTTL, a.log)
	a.edits = newEditor(a.api, opts.EditInterval, a.log)
	if opts.Handler != nil {
		a.SetHandler(opts.Handler)
	}
	return a, nil
}

func (a *Adapter) clientOptions(extra ...slackapi.Option) []slackapi.Option {
	opts := []slackapi.Option{slackapi.OptionHTTPClient(a.opts.HTTPClient)}
	if a.opts.APIURL != "" {
		opts = append(opts, slackapi.OptionAPIURL(a.opts.APIURL))
	}
	return append(opts, extra...)
}

// SetHandler sets (or replaces) the handler commands and clicks go to.
func (a *Adapter) SetHandler(h bot.Handler) { a.base.SetHandler(h) }

// Routes mounts POST /slack/commands and POST /slack/interactions on mux.
func (a *Adapter) Routes(mux *http.ServeMux) {
	mux.Handle("POST /slack/commands", a.verified(a.serveCommand))
	mux.Handle("POST /slack/interactions", a.verified(a.serveInteraction))
}

// CheckAuth calls auth.test so a wrong token shows at startup, not at the
// first command.
func (a *Adapter) CheckAuth(ctx context.Context) error {
	if _, err := a.api.AuthTestContext(ctx); err != nil {
		return fmt.Errorf("slack: auth.test with the bot token failed (is SLACK_BOT_TOKEN right and the app installed?): %w", err)
	}
	return nil
}

// Close waits, until ctx ends, for click answers and pending message edits
// still being sent, so the last state of every message lands.
func (a *Adapter) Close(ctx context.Context) error { return a.base.Close(ctx, "slack", a.edits) }

// Post posts msg into channel, inside thread when thread != "". Text too
// long for one message is cut short and attached in full as a file.
func (a *Adapter) Post(ctx context.Context, channel, thread string, msg bot.Message) (bot.MessageRef, error) {
	channel = channelID(channel)
	full := msg
	if tooLong(msg) {
		msg.Text = firstLines(msg.Text, maxSectionText) + "\n_(too long for one message: the full text is attached as message.txt)_"
	}
	opts := msgOptions(msg)
	if thread != "" {
		opts = append(opts, slackapi.MsgOptionTS(thread))
	}
	var ch, ts string
	err := retryRateLimited(ctx, a.log, "chat.postMessage", func() error {
		var err error
		ch, ts, err = a.api.PostMessageContext(ctx, channel, opts...)
		return err
	})
	if err != nil {
		return bot.MessageRef{}, fmt.Errorf("slack: posting to channel %s: %w", channel, withHint(err))
	}
	ref := bot.MessageRef{Channel: ch, ID: ts, Thread: thread}
	if full.Text != msg.Text {
		into := thread
		if into == "" {
			into = ts
		}
		if err := a.Attach(ctx, ch, into, "message.txt", []byte(full.Text), ""); err != nil {
			return ref, err
		}
	}
	return ref, nil
}

// Ephemeral shows msg to userID only, in channel (and thread).
func (a *Adapter) Ephemeral(ctx context.Context, channel, thread, userID string, msg bot.Message) error {
	channel = channelID(channel)
	opts := msgOptions(msg)
	if thread != "" {
		opts = append(opts, slackapi.MsgOptionTS(thread))
	}
	err := retryRateLimited(ctx, a.log, "chat.postEphemeral", func() error {
		_, err := a.api.PostEphemeralContext(ctx, channel, userID, opts...)
		return err
	})
	if err != nil {
		return fmt.Errorf("slack: posting an ephemeral message to %s in channel %s: %w", userID, channel, withHint(err))
	}
	return nil
}

// Edit replaces a posted message with chat.update. Edits of one message
// are sent at most once per EditInterval; edits that arrive meanwhile are
// coalesced so only the newest is sent, and a rate-limited update is
// retried after Slack's Retry-After. Edit returns once msg (or a newer
// edit that replaced it) has landed.
func (a *Adapter) Edit(ctx context.Context, ref bot.MessageRef, msg bot.Message) error {
	return a.edits.Edit(ctx, ref, msg)
}

// Attach uploads data as filename into channel (and thread) with the
// files upload v2 path, with comment as its message.
func (a *Adapter) Attach(ctx context.Context, channel, thread, filename string, data []byte, comment string) error {
	channel = channelID(channel)
	if len(data) == 0 {
		return fmt.Errorf("slack: attaching %s: the file is empty, Slack rejects empty uploads", filename)
	}
	params := slackapi.UploadFileParameters{
		Filename:        filename,
		Title:           filename,
		FileSize:        len(data),
		Content:         string(data),
		Channel:         channel,
		ThreadTimestamp: thread,
		InitialComment:  escape(comment),
	}
	err := retryRateLimited(ctx, a.log, "files upload", func() error {
		_, err := a.api.UploadFileContext(ctx, params)
		return err
	})
	if err != nil {
		return fmt.Errorf("slack: uploading %s to channel %s: %w", filename, channel, withHint(err))
	}
	return nil
}

// firstLines is the start of text, cut at a line break, at most limit bytes.
func firstLines(text string, limit int) string {
	if len(text) <= limit {
		return text
	}
	cut := text[:cutAt(text, limit)]
	if i := strings.LastIndexByte(cut, '\n'); i > 0 {
		cut = cut[:i]
	}
	return cut
}

// withHint adds what to do about the Slack errors an operator can fix.
func withHint(err error) error {
	se, ok := errors.AsType[slackapi.SlackErrorResponse](err)
	if !ok {
		return err
	}
	switch se.Err {
	case "not_in_channel", "channel_not_found":
		return fmt.Errorf("%w (invite the bot to the channel: /invite @backupbot)", err)
	case "missing_scope":
		return fmt.Errorf("%w (the app lacks scope %q: update it from deploy/slack-app-manifest.yaml and reinstall)", err, se.Needed)
	case "invalid_auth", "not_authed", "token_revoked", "account_inactive":
		return fmt.Errorf("%w (check SLACK_BOT_TOKEN and that the app is installed)", err)
	}
	return err
}

// maxRateLimitRetries bounds how often one call is retried after 429.
const maxRateLimitRetries = 8

// retryRateLimited runs call, and while Slack answers 429 waits the
// Retry-After it gave (at least one second) and runs it again.
func retryRateLimited(ctx context.Context, log *slog.Logger, what string, call func() error) error {
	for attempt := 0; ; attempt++ {
		err := call()
		rl, limited := errors.AsType[*slackapi.RateLimitedError](err)
		if !limited || attempt == maxRateLimitRetries {
			return err
		}
		wait := max(rl.RetryAfter, time.Second)
		log.Info("slack: rate limited, waiting", slog.String("call", what), slog.Duration("retry_after", wait))
		if err := tick.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("waiting out Slack's rate limit: %w", err)
		}
	}
}

// channelRef is the channel reference handed to the router: the channel ID,
// and its name after a "|" when Slack sent one, so that policy rules can
// name channels ("#ops") while replies still go to the ID.
func channelRef(id, name string) string {
	if name == "" || id == "" {
		return id
	}
	return id + "|" + name
}

// channelID is the Slack channel ID of a reference made by channelRef.
func channelID(ref string) string {
	id, _, _ := strings.Cut(ref, "|")
	return id
}
