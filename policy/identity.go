package policy

import (
	"strings"
)

// Platforms as they appear in Identity.Platform and in binding subjects.
const (
	PlatformConsole = "console"
	PlatformSlack   = "slack"
	PlatformDiscord = "discord"
)

// Identity is who asked, as the platform knows them. The bot package
// converts its own identity type to this one; policy never looks at
// anything else about the platform.
type Identity struct {
	// Platform is console, slack or discord.
	Platform string `json:"platform"`
	// UserID is the platform's stable user id (Slack U…, Discord snowflake,
	// the console user name). Bindings match on it.
	UserID string `json:"user_id"`
	// UserName is for people to read (audit, messages); bindings ignore it.
	UserName string `json:"user_name,omitempty"`
	// Groups are the platform's user groups (Slack user group ids or
	// handles, Discord guild role ids, console groups from the config).
	Groups []string `json:"groups,omitempty"`
}

// String renders the identity for messages and logs, e.g. "@alice
// (slack:U123)" or "slack:U123" when there is no name.
func (id Identity) String() string {
	ref := id.Platform + ":" + id.UserID
	if id.UserName == "" {
		return ref
	}
	return "@" + id.UserName + " (" + ref + ")"
}

// Display is the short form people see in chat: "@alice", or the
// platform-qualified id when there is no name.
func (id Identity) Display() string {
	if id.UserName != "" {
		return "@" + id.UserName
	}
	return id.Platform + ":" + id.UserID
}

// Same reports whether two identities are the same person: same platform
// and same user id (names and groups may differ between calls).
func (id Identity) Same(other Identity) bool {
	return strings.EqualFold(id.Platform, other.Platform) && id.UserID == other.UserID
}

// Subjects lists the binding subjects this identity matches, most general
// first: "*", "PLATFORM:*", "PLATFORM:USERID", and for every group
// "PLATFORM-group:GROUP" (Discord guild roles also as "discord-role:ROLE").
func (id Identity) Subjects() []string {
	platform := strings.ToLower(id.Platform)
	subjects := []string{"*", platform + ":*"}
	if id.UserID != "" {
		subjects = append(subjects, platform+":"+id.UserID)
	}
	for _, g := range id.Groups {
		if g == "" {
			continue
		}
		subjects = append(subjects, platform+"-group:"+g)
		if platform == PlatformDiscord {
			subjects = append(subjects, "discord-role:"+g)
		}
	}
	return subjects
}
