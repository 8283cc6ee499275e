package jobs

import (
	"context"
	"fmt"
)

// Workers is how many worker processes are connected to the queue's Redis
// now (each heartbeats every few seconds; one that died drops out within
// about half a minute). The bot says so when a queued job has none.
func (c *Client) Workers(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	servers, err := c.insp.Servers()
	if err != nil {
		return 0, fmt.Errorf("list the connected workers (is Redis reachable?): %w", err)
	}
	return len(servers), nil
}
