package slack

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"
)

// groupLoadTimeout bounds one full refresh of the user-group memberships.
const groupLoadTimeout = time.Minute

// groupCache maps Slack user IDs to their user groups, both the group IDs
// (S0123ABC) and handles (backup-admins), so policy bindings can name
// either. It is loaded with usergroups.list and usergroups.users.list,
// trusted for ttl, then refreshed in the background while the old
// memberships keep answering.
type groupCache struct {
	api *slackapi.Client
	ttl time.Duration
	log *slog.Logger

	mu         sync.Mutex
	byUser     map[string][]string
	loadedAt   time.Time
	loaded     bool
	refreshing bool
	// firstLoad is closed when the first load attempt ends.
	firstLoad chan struct{}
	started   bool
}

func newGroupCache(api *slackapi.Client, ttl time.Duration, log *slog.Logger) *groupCache {
	return &groupCache{api: api, ttl: ttl, log: log, firstLoad: make(chan struct{})}
}

// groups returns userID's groups. Before the first load has finished it
// waits for it until ctx ends (a user then simply has no groups, so policy
// treats them as groupless rather than guessing); after that it answers
// from the cache at once and refreshes stale data in the background.
func (c *groupCache) groups(ctx context.Context, userID string) []string {
	c.mu.Lock()
	if !c.started || (c.loaded && !c.refreshing && time.Since(c.loadedAt) > c.ttl) {
		c.startRefresh(ctx)
	}
	loaded := c.loaded
	first := c.firstLoad
	c.mu.Unlock()

	if !loaded {
		select {
		case <-first:
		case <-ctx.Done():
			c.log.Warn("slack: user groups not loaded yet, treating the user as in no group", slog.String("user", userID))
			return nil
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.byUser[userID])
}

// startRefresh starts one background load; c.mu must be held.
func (c *groupCache) startRefresh(ctx context.Context) {
	if c.refreshing {
		return
	}
	c.refreshing = true
	first := !c.started
	c.started = true
	go func() {
		loadCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), groupLoadTimeout)
		defer cancel()
		byUser, err := c.load(loadCtx)
		c.mu.Lock()
		c.refreshing = false
		if err != nil {
			c.log.Warn("slack: refreshing user groups failed, keeping the previous memberships", slog.String("error", err.Error()))
			// Try again on the next lookup rather than after a full TTL.
			if !c.loaded {
				c.started = false
			}
		} else {
			c.byUser, c.loadedAt, c.loaded = byUser, time.Now(), true
		}
		if first {
			close(c.firstLoad)
			if !c.loaded {
				c.firstLoad = make(chan struct{})
			}
		}
		c.mu.Unlock()
	}()
}

// load reads every enabled user group (usergroups.list leaves disabled
// ones out) and its members.
func (c *groupCache) load(ctx context.Context) (map[string][]string, error) {
	var groups []slackapi.UserGroup
	err := retryRateLimited(ctx, c.log, "usergroups.list", func() error {
		var err error
		groups, err = c.api.GetUserGroupsContext(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing user groups (does the app have the usergroups:read scope?): %w", err)
	}
	byUser := map[string][]string{}
	for _, g := range groups {
		var members []string
		err := retryRateLimited(ctx, c.log, "usergroups.users.list", func() error {
			var err error
			members, err = c.api.GetUserGroupMembersContext(ctx, g.ID)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("listing the members of user group %s (@%s): %w", g.ID, g.Handle, err)
		}
		for _, u := range members {
			byUser[u] = append(byUser[u], g.ID)
			if g.Handle != "" {
				byUser[u] = append(byUser[u], g.Handle)
			}
		}
	}
	return byUser, nil
}
