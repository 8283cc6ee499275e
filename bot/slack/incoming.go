package slack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/adapterbase"
)

// commandResponse is the immediate answer to a slash command: the HTTP
// response body, or the Socket Mode ack payload.
type commandResponse struct {
	ResponseType string           `json:"response_type"`
	Text         string           `json:"text"`
	Blocks       []slackapi.Block `json:"blocks,omitempty"`
}

// responseFor turns the handler's Reply into Slack's answer; nil means
// an empty acknowledgement (nothing shown).
func responseFor(r bot.Reply) *commandResponse {
	if r.Message.Text == "" && len(r.Message.Fields) == 0 && len(r.Message.Buttons) == 0 {
		return nil
	}
	typ := slackapi.ResponseTypeInChannel
	if r.Ephemeral {
		typ = slackapi.ResponseTypeEphemeral
	}
	return &commandResponse{ResponseType: typ, Text: fallback(r.Message), Blocks: blocks(r.Message)}
}

func ephemeralText(text string) bot.Reply {
	return bot.Reply{Message: bot.Message{Text: text}, Ephemeral: true}
}

// serveCommand answers POST /slack/commands (already verified).
func (a *Adapter) serveCommand(w http.ResponseWriter, r *http.Request, body []byte) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "slash command body is not form-encoded", http.StatusBadRequest)
		return
	}
	if form.Get("ssl_check") == "1" {
		// Slack checking the TLS certificate of the command URL: nothing to run.
		w.WriteHeader(http.StatusOK)
		return
	}
	cmd := slackapi.SlashCommand{
		TeamID:      form.Get("team_id"),
		ChannelID:   form.Get("channel_id"),
		ChannelName: form.Get("channel_name"),
		UserID:      form.Get("user_id"),
		UserName:    form.Get("user_name"),
		Command:     form.Get("command"),
		Text:        form.Get("text"),
		ResponseURL: form.Get("response_url"),
		TriggerID:   form.Get("trigger_id"),
	}
	resp := a.answerCommand(r.Context(), cmd, requestID(cmd.TriggerID, body))
	if resp == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(resp); err != nil {
		a.log.Warn("slack: writing the slash command answer failed", slog.String("error", err.Error()))
	}
}

// requestID names a slash command for idempotency: its trigger id, else a
// hash of the signed body (a replay carries the same body; a command typed
// again does not).
func requestID(triggerID string, body []byte) string {
	if triggerID != "" {
		return "trigger:" + triggerID
	}
	h := sha256.Sum256(body)
	return "body:" + hex.EncodeToString(h[:16])
}

// answerCommand hands a slash command to the handler and returns the
// answer Slack shows. It never takes longer than AckTimeout: when the
// handler is slower, Slack gets "⏳ working on it" and the handler's own
// answer follows as an ephemeral message (chat.postEphemeral) once it
// comes, so what the user is told is always what the handler decided.
// The handler's context ends with the request; enqueueing is built to
// settle that safely (jobs.EnqueueOnce).
func (a *Adapter) answerCommand(ctx context.Context, cmd slackapi.SlashCommand, reqID string) *commandResponse {
	h := a.base.Handler()
	if h == nil {
		return responseFor(ephemeralText("backupbot is still starting up, try again in a few seconds."))
	}
	channel := channelRef(cmd.ChannelID, cmd.ChannelName)
	rep, late := adapterbase.Answer(ctx, a.opts.AckTimeout, func(hctx context.Context) bot.Reply {
		from := a.identity(hctx, cmd.UserID, cmd.UserName)
		return h.HandleCommand(hctx, bot.Incoming{From: from, Channel: channel, Text: cmd.Text, RequestID: reqID})
	})
	if late == nil {
		return responseFor(rep)
	}
	a.log.Warn("slack: the handler did not answer in time; acknowledging now, its answer follows",
		slog.String("user", cmd.UserID), slog.String("channel", cmd.ChannelID), slog.Duration("waited", a.opts.AckTimeout))
	a.base.Go(func() {
		rep := <-late
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if responseFor(rep) == nil {
			return
		}
		var err error
		if rep.Ephemeral {
			err = a.Ephemeral(pctx, channel, "", cmd.UserID, rep.Message)
		} else {
			_, err = a.Post(pctx, channel, "", rep.Message)
		}
		if err != nil {
			a.log.Error("slack: could not deliver a late answer to a command", slog.String("user", cmd.UserID), slog.String("error", err.Error()))
		}
	})
	return responseFor(ephemeralText(stillWorking))
}

// identity is the Slack user as bot.Identity, with their user groups. The
// group lookup gets at most half of what is left of ctx, so a slow first
// load cannot eat the whole acknowledgement budget.
func (a *Adapter) identity(ctx context.Context, userID, userName string) bot.Identity {
	budget := a.opts.AckTimeout / 2
	if dl, ok := ctx.Deadline(); ok {
		budget = min(budget, time.Until(dl)/2)
	}
	gctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	return bot.Identity{Platform: bot.Slack, UserID: userID, UserName: userName, Groups: a.groups.groups(gctx, userID)}
}

// serveInteraction answers POST /slack/interactions (already verified):
// it acknowledges at once and handles the click in the background.
func (a *Adapter) serveInteraction(w http.ResponseWriter, r *http.Request, body []byte) {
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("payload") == "" {
		http.Error(w, "interaction body has no payload field", http.StatusBadRequest)
		return
	}
	var cb slackapi.InteractionCallback
	if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil {
		http.Error(w, "interaction payload is not valid JSON", http.StatusBadRequest)
		return
	}
	a.handleInteractionLater(context.WithoutCancel(r.Context()), cb)
	w.WriteHeader(http.StatusOK)
}

// handleInteractionLater answers an interaction in the background; Close
// waits for it.
func (a *Adapter) handleInteractionLater(ctx context.Context, cb slackapi.InteractionCallback) {
	a.base.Go(func() { a.answerInteraction(ctx, cb) })
}

// answerInteraction maps each button of a block_actions callback to a
// bot.Click from the user who clicked, hands it to the handler, and shows
// the reply to that user (ephemeral) or in the message's thread.
func (a *Adapter) answerInteraction(ctx context.Context, cb slackapi.InteractionCallback) {
	if cb.Type != slackapi.InteractionTypeBlockActions {
		a.log.Debug("slack: ignoring an interaction that is not a button click", slog.String("type", string(cb.Type)))
		return
	}
	channel := cb.Container.ChannelID
	if channel == "" {
		channel = cb.Channel.ID
	}
	channel = channelRef(channel, cb.Channel.Name)
	messageTS := cb.Container.MessageTs
	if messageTS == "" {
		messageTS = cb.Message.Timestamp
	}
	thread := cb.Container.ThreadTs
	if thread == "" {
		thread = cb.Message.ThreadTimestamp
	}
	userName := cb.User.Name
	if userName == "" {
		userName = cb.User.Profile.DisplayName
	}
	for _, act := range cb.ActionCallback.BlockActions {
		a.answerClick(ctx, bot.Click{
			From:     a.identity(ctx, cb.User.ID, userName),
			Message:  bot.MessageRef{Channel: channel, ID: messageTS, Thread: thread},
			ActionID: act.ActionID,
			Value:    act.Value,
		})
	}
}

func (a *Adapter) answerClick(ctx context.Context, c bot.Click) {
	h := a.base.Handler()
	if h == nil {
		a.replyToClick(ctx, c, ephemeralText("backupbot is still starting up, try again in a few seconds."))
		return
	}
	rep, late := adapterbase.Answer(ctx, a.opts.AckTimeout, func(hctx context.Context) bot.Reply { return h.HandleClick(hctx, c) })
	if late != nil {
		a.log.Warn("slack: the handler did not answer a click in time", slog.String("user", c.From.UserID),
			slog.String("action", c.ActionID))
		rep = ephemeralText(queueUnavailable)
	}
	a.replyToClick(ctx, c, rep)
}

// replyToClick shows the handler's reply to the person who clicked.
func (a *Adapter) replyToClick(ctx context.Context, c bot.Click, rep bot.Reply) {
	if responseFor(rep) == nil {
		return
	}
	var err error
	if rep.Ephemeral {
		err = a.Ephemeral(ctx, c.Message.Channel, c.Message.Thread, c.From.UserID, rep.Message)
	} else {
		thread := c.Message.Thread
		if thread == "" {
			thread = c.Message.ID
		}
		_, err = a.Post(ctx, c.Message.Channel, thread, rep.Message)
	}
	if err != nil {
		a.log.Error("slack: could not show the answer to a click", slog.String("user", c.From.UserID),
			slog.String("action", c.ActionID), slog.String("error", err.Error()))
	}
}
