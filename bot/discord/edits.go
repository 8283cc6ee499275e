package discord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/editqueue"
)

// newEditor sends message edits (PATCH /channels/{id}/messages/{id})
// through an edit queue: per message at most one per interval, the newest
// state winning, and after a 429 not before Discord's retry_after.
func newEditor(api *restClient, ids *customIDs, interval time.Duration, log *slog.Logger) *editqueue.Queue {
	send := func(ctx context.Context, ref bot.MessageRef, msg bot.Message) (time.Duration, error) {
		_, err := api.once(ctx, request{
			Method: "PATCH",
			Path:   "/channels/" + ref.Channel + "/messages/" + ref.ID,
			JSON:   ids.render(msg).edit(),
			What:   fmt.Sprintf("discord: editing message %s in channel %s", ref.ID, ref.Channel),
		})
		if rl, ok := errors.AsType[*rateLimitedError](err); ok {
			return max(rl.RetryAfter, 10*time.Millisecond), err
		}
		if err != nil {
			log.Warn("discord: an edit failed", slog.String("channel", ref.Channel), slog.String("message", ref.ID),
				slog.String("error", err.Error()))
		}
		return 0, err
	}
	return editqueue.New(send, interval, maxRateLimitRetries, log)
}
