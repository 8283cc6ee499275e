// Package discord is backupbot's Discord adapter. It takes the /backup
// application command and button clicks from Discord's interactions
// endpoint (POST /discord/interactions, Ed25519-signed), hands them to a
// bot.Handler and answers within Discord's three seconds, and implements
// bot.Surface on Discord's REST API: messages posted into threads (a
// Discord thread is a channel, started from the job's parent message the
// first time something is posted into it), edits for live progress
// (throttled per message, coalesced, retried after rate limits), files as
// multipart uploads, and ephemeral follow-ups where an interaction allows.
// Guild role ids become Identity.Groups, for "discord-role:ID" bindings.
package discord

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/adapterbase"
	"github.com/backupbot/backupbot/bot/editqueue"
)

// Defaults for the zero values of Options.
const (
	DefaultEditInterval = time.Second
	DefaultAckTimeout   = 2500 * time.Millisecond
	DefaultMaxBodyBytes = 256 << 10
)

// queueUnavailable is the answer when the handler does not reply in time.
const queueUnavailable = "⚠️ The job queue is unavailable right now, try again in a minute."

// Options configure an Adapter.
type Options struct {
	// BotToken authenticates REST calls (DISCORD_BOT_TOKEN).
	BotToken string
	// PublicKey is the application's public key, hex, as the developer
	// portal shows it (DISCORD_PUBLIC_KEY); it verifies interactions.
	PublicKey string
	// AppID is the application id (DISCORD_APP_ID). Interactions carry
	// their application id too; AppID is used when one does not.
	AppID string
	// APIURL overrides the REST API base address (DISCORD_API_URL), e.g.
	// "http://127.0.0.1:9999/api/v10". Empty means DefaultAPIURL.
	APIURL string
	// Handler receives commands and clicks (the router). It may be nil
	// here and set later with SetHandler.
	Handler bot.Handler
	// HTTPClient makes the REST calls (default: one with a 30 s timeout).
	HTTPClient *http.Client
	Logger     *slog.Logger
	// EditInterval is the least time between two edits of one message
	// (default 1 s); edits arriving faster are coalesced.
	EditInterval time.Duration
	// AckTimeout bounds how long an interaction waits for the handler
	// before the user is told the queue is unavailable (default 2.5 s;
	// Discord gives up after 3 s).
	AckTimeout time.Duration
	// MaxBodyBytes limits the size of an interaction body (default 256 KiB).
	MaxBodyBytes int64
	// APIErrors counts the REST calls that fail: answered 429, with an
	// HTTP error, or not at all. Nil counts none.
	APIErrors *bot.ChatAPIErrors
}

// Adapter is the Discord adapter: the interactions endpoint and a
// bot.Surface. Create it with NewAdapter.
type Adapter struct {
	opts    Options
	key     ed25519.PublicKey
	api     *restClient
	log     *slog.Logger
	gate    adapterbase.Gate
	ids     *customIDs
	threads *threads
	edits   *editqueue.Queue
	tokens  *interactionTokens
	// base holds the handler and the follow-ups still being sent, so
	// Close can wait.
	base adapterbase.Base
}

// NewAdapter checks opts and builds an Adapter. It makes no network call.
func NewAdapter(opts Options) (*Adapter, error) {
	if opts.BotToken == "" {
		return nil, errors.New("discord: the bot token is empty: set DISCORD_BOT_TOKEN to the bot's token from the developer portal")
	}
	if opts.PublicKey == "" {
		return nil, errors.New("discord: the public key is empty: set DISCORD_PUBLIC_KEY to the application's public key " +
			"from the developer portal; without it no interaction can be verified")
	}
	key, err := parsePublicKey(strings.TrimSpace(opts.PublicKey))
	if err != nil {
		return nil, err
	}
	if opts.APIURL == "" {
		opts.APIURL = DefaultAPIURL
	}
	opts.HTTPClient = adapterbase.HTTPClient(opts.HTTPClient, opts.APIErrors, bot.Discord, nil)
	opts.Logger = cmp.Or(opts.Logger, slog.Default())
	adapterbase.Default(&opts.EditInterval, DefaultEditInterval)
	adapterbase.Default(&opts.AckTimeout, DefaultAckTimeout)
	adapterbase.Default(&opts.MaxBodyBytes, DefaultMaxBodyBytes)
	log := opts.Logger.With(slog.String("adapter", "discord"))
	api := &restClient{base: strings.TrimRight(opts.APIURL, "/"), token: opts.BotToken, http: opts.HTTPClient, log: log}
	ids := &customIDs{}
	a := &Adapter{
		opts: opts, key: key, api: api, log: log, ids: ids,
		gate:    adapterbase.Gate{Name: "discord", Log: log, MaxBodyBytes: opts.MaxBodyBytes},
		threads: newThreads(api),
		edits:   newEditor(api, ids, opts.EditInterval, log),
		tokens:  newInteractionTokens(),
	}
	if opts.Handler != nil {
		a.SetHandler(opts.Handler)
	}
	return a, nil
}

// SetHandler sets (or replaces) the handler commands and clicks go to.
func (a *Adapter) SetHandler(h bot.Handler) { a.base.SetHandler(h) }

// Routes mounts POST /discord/interactions on mux.
func (a *Adapter) Routes(mux *http.ServeMux) {
	mux.Handle("POST /discord/interactions", a.verified(a.serveInteraction))
}

// CheckAuth fetches the bot's own user so a wrong token shows at startup,
// not at the first job.
func (a *Adapter) CheckAuth(ctx context.Context) error {
	var me discordgo.User
	err := a.api.do(ctx, request{Method: "GET", Path: "/users/@me", What: "discord: checking the bot token"}, &me)
	if err != nil {
		return err
	}
	a.log.Info("discord: bot token works", slog.String("bot", me.Username), slog.String("id", me.ID))
	return nil
}

// Close waits, until ctx ends, for follow-ups and pending message edits
// still being sent, so the last state of every message lands.
func (a *Adapter) Close(ctx context.Context) error { return a.base.Close(ctx, "discord", a.edits) }

// Post posts msg into channel, or into the thread started from message
// thread when thread != "" (creating that thread the first time). Text too
// long for one message is cut short and attached in full as a file.
func (a *Adapter) Post(ctx context.Context, channel, thread string, msg bot.Message) (bot.MessageRef, error) {
	target, err := a.threads.resolve(ctx, channel, thread)
	if err != nil {
		return bot.MessageRef{}, err
	}
	r := a.ids.render(msg)
	req := request{
		Method: "POST",
		Path:   "/channels/" + target + "/messages",
		JSON:   r.send(),
		What:   "discord: posting to channel " + target,
	}
	if r.Full != "" {
		req.Files = []file{{Name: longTextName, Data: []byte(r.Full)}}
	}
	var posted discordgo.Message
	if err := a.api.do(ctx, req, &posted); err != nil {
		return bot.MessageRef{}, err
	}
	if posted.ID == "" {
		return bot.MessageRef{}, fmt.Errorf("discord: posting to channel %s: Discord's answer has no message id", target)
	}
	if thread == "" {
		a.threads.remember(posted.ID, msg.Text)
	}
	return bot.MessageRef{Channel: channel, ID: posted.ID, Thread: thread}, nil
}

// Ephemeral shows msg to userID only when that user's last interaction in
// channel is recent enough for an ephemeral follow-up (Discord keeps an
// interaction's token for 15 minutes). Otherwise Discord has no way to
// show a message to one person in a channel, so msg is posted normally.
func (a *Adapter) Ephemeral(ctx context.Context, channel, thread, userID string, msg bot.Message) error {
	if tok, ok := a.tokens.get(channel, userID); ok {
		err := a.followup(ctx, tok, msg, true)
		if err == nil {
			return nil
		}
		a.log.Info("discord: ephemeral follow-up failed, posting normally", slog.String("error", err.Error()))
	}
	_, err := a.Post(ctx, channel, thread, msg)
	return err
}

// Edit replaces a posted message. Edits of one message are sent at most
// once per EditInterval; edits that arrive meanwhile are coalesced so only
// the newest is sent, and a rate-limited edit is retried after Discord's
// retry_after. Edit returns once msg (or a newer edit that replaced it) has
// landed.
func (a *Adapter) Edit(ctx context.Context, ref bot.MessageRef, msg bot.Message) error {
	return a.edits.Edit(ctx, bot.MessageRef{Channel: a.threads.locate(ref.Channel, ref.Thread), ID: ref.ID}, msg)
}

// Attach uploads data as filename into channel (and thread), with comment
// as the message text.
func (a *Adapter) Attach(ctx context.Context, channel, thread, filename string, data []byte, comment string) error {
	if len(data) == 0 {
		return fmt.Errorf("discord: attaching %s: the file is empty", filename)
	}
	target, err := a.threads.resolve(ctx, channel, thread)
	if err != nil {
		return err
	}
	r := a.ids.render(bot.Message{Text: comment})
	return a.api.do(ctx, request{
		Method: "POST",
		Path:   "/channels/" + target + "/messages",
		JSON:   r.send(),
		Files:  []file{{Name: filename, Data: data}},
		What:   fmt.Sprintf("discord: uploading %s to channel %s", filename, target),
	}, nil)
}
