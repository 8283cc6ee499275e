package discord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/adapterbase"
	"github.com/backupbot/backupbot/internal/tick"
)

// commandName is the application command deploy/discord/commands.json
// registers, and commandOption its one string option.
const (
	commandName   = "backup"
	commandOption = "command"
)

// tokenLifetime is how long an interaction token is used for follow-ups;
// Discord accepts them for 15 minutes.
const tokenLifetime = 14 * time.Minute

// followupRetries bounds how often a follow-up is tried while Discord has
// not yet seen the interaction's first response.
const followupRetries = 5

// interactionChannel is the partial channel object interactions carry,
// which discordgo.Interaction leaves out; it tells threads apart.
type interactionChannel struct {
	Channel *struct {
		ID       string                `json:"id"`
		Type     discordgo.ChannelType `json:"type"`
		ParentID string                `json:"parent_id"`
	} `json:"channel"`
}

// isThread reports whether a channel type is one of Discord's threads.
func isThread(t discordgo.ChannelType) bool {
	return t == discordgo.ChannelTypeGuildPublicThread || t == discordgo.ChannelTypeGuildPrivateThread ||
		t == discordgo.ChannelTypeGuildNewsThread
}

// serveInteraction answers POST /discord/interactions (already verified).
func (a *Adapter) serveInteraction(w http.ResponseWriter, r *http.Request, body []byte) {
	var in discordgo.Interaction
	if err := json.Unmarshal(body, &in); err != nil {
		http.Error(w, "interaction body is not a Discord interaction", http.StatusBadRequest)
		return
	}
	var where interactionChannel
	_ = json.Unmarshal(body, &where) // optional; a body that failed would have failed above

	var resp *discordgo.InteractionResponse
	var later func()
	switch in.Type {
	case discordgo.InteractionPing:
		resp = &discordgo.InteractionResponse{Type: discordgo.InteractionResponsePong}
	case discordgo.InteractionApplicationCommand:
		resp, later = a.answerCommand(r.Context(), in, where)
	case discordgo.InteractionMessageComponent:
		resp, later = a.answerClick(r.Context(), in, where)
	default:
		a.log.Debug("discord: ignoring an interaction type the bot does not use", slog.String("type", in.Type.String()))
		http.Error(w, "unsupported interaction type", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(resp); err != nil {
		a.log.Warn("discord: writing the interaction response failed", slog.String("error", err.Error()))
		return
	}
	if later != nil {
		a.base.Go(later)
	}
}

// location is where an interaction happened, in the service's terms: a
// thread channel becomes its parent channel plus the thread.
func (a *Adapter) location(in discordgo.Interaction, where interactionChannel) (channel, thread string) {
	if c := where.Channel; c != nil && c.ID == in.ChannelID && isThread(c.Type) && c.ParentID != "" {
		a.threads.markThread(c.ID)
		return c.ParentID, c.ID
	}
	return in.ChannelID, ""
}

// identity is whoever sent an interaction: the guild member with their
// role ids, or the user in a DM.
func identity(in discordgo.Interaction) bot.Identity {
	id := bot.Identity{Platform: bot.Discord}
	user := in.User
	if in.Member != nil {
		if in.Member.User != nil {
			user = in.Member.User
		}
		id.Groups = append([]string(nil), in.Member.Roles...)
	}
	if user != nil {
		id.UserID, id.UserName = user.ID, user.Username
	}
	return id
}

// answerCommand hands a /backup command to the handler and returns the
// response Discord shows. It never takes longer than AckTimeout: when the
// handler is slower, Discord gets a deferred response and the handler's
// own answer follows (the returned func sends it), so what the user is
// told is always what the handler decided.
func (a *Adapter) answerCommand(ctx context.Context, in discordgo.Interaction, where interactionChannel) (*discordgo.InteractionResponse, func()) {
	data := in.ApplicationCommandData()
	if data.Name != commandName {
		return a.respond(in, ephemeralText(fmt.Sprintf("This bot only knows /%s; /%s is not one of its commands.", commandName, data.Name)))
	}
	text := ""
	if opt := data.GetOption(commandOption); opt != nil {
		text, _ = opt.Value.(string)
	}
	channel, thread := a.location(in, where)
	from := identity(in)
	a.tokens.put(a.appID(in), in.Token, from.UserID, channel, in.ChannelID)
	h := a.base.Handler()
	if h == nil {
		return a.respond(in, ephemeralText("backupbot is still starting up, try again in a few seconds."))
	}
	// The interaction id names the request: a replayed interaction is
	// answered with the job the first one made.
	incoming := bot.Incoming{From: from, Channel: channel, Thread: thread, Text: text, RequestID: in.ID}
	rep, late := adapterbase.Answer(ctx, a.opts.AckTimeout, func(hctx context.Context) bot.Reply { return h.HandleCommand(hctx, incoming) })
	if late == nil {
		return a.respond(in, rep)
	}
	// Slower than the acknowledgement may be: a deferred response now
	// ("thinking…"), the handler's own answer as a follow-up when it comes.
	a.log.Warn("discord: the handler did not answer in time; deferring, its answer follows",
		slog.String("user", from.UserID), slog.String("channel", channel), slog.Duration("waited", a.opts.AckTimeout))
	tok := interactionToken{appID: a.appID(in), token: in.Token}
	resp := &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{Flags: discordgo.MessageFlagsEphemeral}}
	return resp, func() {
		rep := <-late
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if rep.Message.Text == "" && len(rep.Message.Fields) == 0 {
			rep.Message.Text = "✓"
		}
		if err := a.followup(fctx, tok, rep.Message, true); err != nil {
			a.log.Error("discord: could not deliver a late answer to a command", slog.String("user", from.UserID), slog.String("error", err.Error()))
		}
	}
}

// answerClick maps a button click to a bot.Click from the member who
// clicked, hands it to the handler and returns the answer, shown to that
// member only when the reply is ephemeral.
func (a *Adapter) answerClick(ctx context.Context, in discordgo.Interaction, where interactionChannel) (*discordgo.InteractionResponse, func()) {
	data := in.MessageComponentData()
	from := identity(in)
	channel, thread := a.location(in, where)
	a.tokens.put(a.appID(in), in.Token, from.UserID, channel, in.ChannelID)
	action, value, err := a.ids.decode(data.CustomID)
	if err != nil {
		return a.respond(in, ephemeralText("⚠️ "+err.Error()+"."))
	}
	click := bot.Click{From: from, ActionID: action, Value: value, Message: bot.MessageRef{Channel: channel, Thread: thread}}
	if in.Message != nil {
		click.Message.ID = in.Message.ID
	}
	h := a.base.Handler()
	if h == nil {
		return a.respond(in, ephemeralText("backupbot is still starting up, try again in a few seconds."))
	}
	rep, late := adapterbase.Answer(ctx, a.opts.AckTimeout, func(hctx context.Context) bot.Reply { return h.HandleClick(hctx, click) })
	if late != nil {
		a.log.Warn("discord: the handler did not answer a click in time", slog.String("user", from.UserID),
			slog.String("action", action))
		rep = ephemeralText(queueUnavailable)
	}
	return a.respond(in, rep)
}

func ephemeralText(text string) bot.Reply {
	return bot.Reply{Message: bot.Message{Text: text}, Ephemeral: true}
}

// respond turns a Reply into an interaction response: a message (type 4),
// flagged ephemeral when the reply is. An empty reply to a click just
// acknowledges it (type 6); an empty reply to a command says it is done,
// since Discord shows an error for a command answered with nothing. Text
// too long for one message is cut short and followed by the full text as
// a file; the returned func sends that follow-up.
func (a *Adapter) respond(in discordgo.Interaction, rep bot.Reply) (*discordgo.InteractionResponse, func()) {
	m := rep.Message
	if m.Text == "" && len(m.Fields) == 0 && len(m.Buttons) == 0 {
		if in.Type == discordgo.InteractionMessageComponent {
			return &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate}, nil
		}
		rep = ephemeralText("✓")
	}
	r := a.ids.render(rep.Message)
	resp := &discordgo.InteractionResponse{Type: discordgo.InteractionResponseChannelMessageWithSource, Data: r.response(rep.Ephemeral)}
	if r.Full == "" {
		return resp, nil
	}
	tok := interactionToken{appID: a.appID(in), token: in.Token}
	full := []byte(r.Full)
	return resp, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := a.sendFollowup(ctx, tok, request{
			JSON:  (rendered{Content: "Full text:"}).followup(rep.Ephemeral),
			Files: []file{{Name: longTextName, Data: full}},
		})
		if err != nil {
			a.log.Warn("discord: could not send the full text of a long answer", slog.String("error", err.Error()))
		}
	}
}

func (a *Adapter) appID(in discordgo.Interaction) string {
	if in.AppID != "" {
		return in.AppID
	}
	return a.opts.AppID
}

// followup sends msg as a follow-up message of an interaction.
func (a *Adapter) followup(ctx context.Context, tok interactionToken, msg bot.Message, ephemeral bool) error {
	r := a.ids.render(msg)
	req := request{JSON: r.followup(ephemeral)}
	if r.Full != "" {
		req.Files = []file{{Name: longTextName, Data: []byte(r.Full)}}
	}
	return a.sendFollowup(ctx, tok, req)
}

// sendFollowup posts req to the interaction's webhook, trying again for a
// few seconds while Discord answers that it does not know the interaction
// yet (the first response may still be on its way).
func (a *Adapter) sendFollowup(ctx context.Context, tok interactionToken, req request) error {
	if tok.appID == "" {
		return fmt.Errorf("discord: cannot send a follow-up: the application id is unknown (set DISCORD_APP_ID)")
	}
	req.Method = "POST"
	req.Path = "/webhooks/" + tok.appID + "/" + tok.token
	req.What = "discord: sending an interaction follow-up"
	var err error
	for attempt := 0; attempt < followupRetries; attempt++ {
		if err = a.api.do(ctx, req, nil); err == nil || !hasStatus(err, http.StatusNotFound) {
			return err
		}
		if serr := tick.Sleep(ctx, 500*time.Millisecond); serr != nil {
			return err
		}
	}
	return err
}

func hasStatus(err error, status int) bool {
	ae, ok := errors.AsType[*apiError](err)
	return ok && ae.Status == status
}

// interactionToken is what a follow-up message needs.
type interactionToken struct {
	appID   string
	token   string
	expires time.Time
}

// interactionTokens remembers each user's latest interaction per channel,
// for ephemeral follow-ups.
type interactionTokens struct {
	mu     sync.Mutex
	byUser map[string]interactionToken
}

func newInteractionTokens() *interactionTokens {
	return &interactionTokens{byUser: map[string]interactionToken{}}
}

func (t *interactionTokens) put(appID, token, userID string, channels ...string) {
	if token == "" || userID == "" {
		return
	}
	now := time.Now()
	tok := interactionToken{appID: appID, token: token, expires: now.Add(tokenLifetime)}
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, v := range t.byUser {
		if now.After(v.expires) {
			delete(t.byUser, k)
		}
	}
	for _, c := range channels {
		t.byUser[c+"/"+userID] = tok
	}
}

func (t *interactionTokens) get(channel, userID string) (interactionToken, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tok, ok := t.byUser[channel+"/"+userID]
	if !ok || time.Now().After(tok.expires) {
		return interactionToken{}, false
	}
	return tok, true
}
