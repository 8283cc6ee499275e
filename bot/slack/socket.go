package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// RunSocketMode connects to Slack over Socket Mode with the app token and
// handles slash commands and button clicks exactly like their HTTP twins:
// every envelope is acknowledged, a slash command's ack carrying the
// answer. It blocks until ctx ends (returning nil) or the connection can
// no longer be re-established (returning the error).
func (a *Adapter) RunSocketMode(ctx context.Context) error {
	if a.opts.AppToken == "" {
		return errors.New("slack: Socket Mode needs an app-level token: set SLACK_APP_TOKEN to the app's xapp- token")
	}
	api := slackapi.New(a.opts.BotToken, a.clientOptions(slackapi.OptionAppLevelToken(a.opts.AppToken))...)
	client := socketmode.New(api)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var handlers sync.WaitGroup
	defer handlers.Wait()

	runErr := make(chan error, 1)
	go func() { runErr <- client.RunContext(ctx) }()

	for {
		select {
		case <-ctx.Done():
			<-runErr
			return nil
		case err := <-runErr:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("slack: Socket Mode connection lost and could not be re-opened (is SLACK_APP_TOKEN right, with connections:write?): %w", err)
		case evt := <-client.Events:
			a.socketEvent(ctx, client, evt, &handlers)
		}
	}
}

// socketEvent handles one event from the Socket Mode client.
func (a *Adapter) socketEvent(ctx context.Context, client *socketmode.Client, evt socketmode.Event, handlers *sync.WaitGroup) {
	switch evt.Type {
	case socketmode.EventTypeConnected:
		a.log.Info("slack: Socket Mode connected")
	case socketmode.EventTypeConnectionError:
		if e, ok := evt.Data.(*slackapi.ConnectionErrorEvent); ok {
			a.log.Warn("slack: Socket Mode connection failed, retrying", slog.String("error", e.Error()))
		}
	case socketmode.EventTypeSlashCommand:
		cmd, ok := evt.Data.(slackapi.SlashCommand)
		if !ok || evt.Request == nil {
			return
		}
		req := *evt.Request
		handlers.Go(func() {
			// Socket Mode redelivers an envelope that was not acknowledged
			// in time: its trigger id (or, without one, the envelope id)
			// names the request, so a redelivery runs nothing twice.
			id := "envelope:" + req.EnvelopeID
			if cmd.TriggerID != "" {
				id = "trigger:" + cmd.TriggerID
			}
			resp := a.answerCommand(ctx, cmd, id)
			var payload any
			if resp != nil {
				payload = resp
			}
			if err := client.AckCtx(ctx, req.EnvelopeID, payload); err != nil && resp != nil {
				// Too big for an ack (20 KB): acknowledge bare, answer by API.
				a.log.Info("slack: answer too big for a Socket Mode ack, posting it instead", slog.String("error", err.Error()))
				if err := client.AckCtx(ctx, req.EnvelopeID, nil); err != nil {
					a.log.Warn("slack: acknowledging a slash command failed", slog.String("error", err.Error()))
				}
				a.postCommandAnswer(ctx, cmd, resp)
			}
		})
	case socketmode.EventTypeInteractive:
		cb, ok := evt.Data.(slackapi.InteractionCallback)
		if !ok || evt.Request == nil {
			return
		}
		if err := client.AckCtx(ctx, evt.Request.EnvelopeID, nil); err != nil {
			a.log.Warn("slack: acknowledging an interaction failed", slog.String("error", err.Error()))
		}
		handlers.Go(func() { a.answerInteraction(ctx, cb) })
	case socketmode.EventTypeEventsAPI:
		// The app subscribes to no events; acknowledge so Slack does not retry.
		if evt.Request != nil {
			if err := client.AckCtx(ctx, evt.Request.EnvelopeID, nil); err != nil {
				a.log.Warn("slack: acknowledging an event failed", slog.String("error", err.Error()))
			}
		}
	}
}

// postCommandAnswer shows a slash command's answer through the Web API when
// it could not travel in the ack.
func (a *Adapter) postCommandAnswer(ctx context.Context, cmd slackapi.SlashCommand, resp *commandResponse) {
	opts := []slackapi.MsgOption{slackapi.MsgOptionText(resp.Text, false), slackapi.MsgOptionBlocks(resp.Blocks...)}
	var err error
	if resp.ResponseType == slackapi.ResponseTypeEphemeral {
		_, err = a.api.PostEphemeralContext(ctx, cmd.ChannelID, cmd.UserID, opts...)
	} else {
		_, _, err = a.api.PostMessageContext(ctx, cmd.ChannelID, opts...)
	}
	if err != nil {
		a.log.Error("slack: could not post a slash command's answer", slog.String("user", cmd.UserID), slog.String("error", err.Error()))
	}
}
