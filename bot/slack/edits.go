package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/backupbot/backupbot/bot"
	"github.com/backupbot/backupbot/bot/editqueue"
)

// newEditor sends chat.update calls through an edit queue: per message at
// most one per interval, the newest state winning, and after a 429 not
// before Slack's Retry-After.
func newEditor(api *slackapi.Client, interval time.Duration, log *slog.Logger) *editqueue.Queue {
	send := func(ctx context.Context, ref bot.MessageRef, msg bot.Message) (time.Duration, error) {
		_, _, _, err := api.UpdateMessageContext(ctx, channelID(ref.Channel), ref.ID, msgOptions(msg)...)
		if rl, ok := errors.AsType[*slackapi.RateLimitedError](err); ok {
			return max(rl.RetryAfter, time.Second), err
		}
		if err != nil {
			return 0, fmt.Errorf("slack: updating message %s in channel %s: %w", ref.ID, ref.Channel, withHint(err))
		}
		return 0, nil
	}
	return editqueue.New(send, interval, maxRateLimitRetries, log)
}
