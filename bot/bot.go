// Package bot is the boundary between chat platforms and the service: what
// an incoming command carries, what a reply surface can do, and the router
// that takes chat text through commands, policy and jobs and relays
// progress, results and alerts back. The adapters (console, Slack, Discord)
// live in sub-packages and implement Surface.
package bot

import "context"

// Platform names a chat platform.
type Platform string

// Platforms.
const (
	Console Platform = "console"
	Slack   Platform = "slack"
	Discord Platform = "discord"
)

// Identity is who sent a command or clicked a button, as the platform knows
// them. Groups holds the platform's user groups (Slack) or guild roles
// (Discord); policy bindings match on them.
type Identity struct {
	Platform Platform `json:"platform"`
	UserID   string   `json:"user_id"`
	UserName string   `json:"user_name,omitempty"`
	Groups   []string `json:"groups,omitempty"`
}

// Incoming is one /backup command as an adapter received it.
type Incoming struct {
	From Identity `json:"from"`
	// Channel is the adapter's reference to the channel, opaque to the
	// router. An adapter that knows both a channel's ID and its name passes
	// "ID|name" (policy rules may name either) and strips the name again
	// when it posts.
	Channel string `json:"channel"`
	// Thread is set when the command was typed inside a thread.
	Thread string `json:"thread,omitempty"`
	Text   string `json:"text"`
	// RequestID names the platform's request (Slack's trigger id or a hash
	// of the signed body, Discord's interaction id; "" for the console).
	// The same request arriving twice (a replay, a retry) is answered with
	// the job the first one made and never runs twice.
	RequestID string `json:"request_id,omitempty"`
}

// MessageRef points at a posted message so it can be edited or replied to.
type MessageRef struct {
	Channel string `json:"channel"`
	// ID is the platform's message id (Slack ts, Discord message id).
	ID string `json:"id"`
	// Thread is the thread the message lives in ("" for a top-level one).
	Thread string `json:"thread,omitempty"`
}

// Button is an interactive button; a click comes back as a Click with the
// same ActionID and Value.
type Button struct {
	ActionID string `json:"action_id"`
	Label    string `json:"label"`
	Value    string `json:"value"`
	// Style is "", "primary" or "danger".
	Style string `json:"style,omitempty"`
}

// Message is what the service says. Text is plain text with light markdown
// (*bold*, `code`, ``` blocks); Fields are label/value pairs shown as a
// table where the platform can; Buttons are shown under it.
type Message struct {
	Text    string   `json:"text"`
	Fields  []Field  `json:"fields,omitempty"`
	Buttons []Button `json:"buttons,omitempty"`
}

// Field is one label/value pair of a Message.
type Field struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// Click is a button press coming back from a platform.
type Click struct {
	From     Identity   `json:"from"`
	Message  MessageRef `json:"message"`
	ActionID string     `json:"action_id"`
	Value    string     `json:"value"`
}

// Surface is where replies go; every chat adapter implements it.
type Surface interface {
	// Post posts msg into channel, inside thread when thread != "".
	Post(ctx context.Context, channel, thread string, msg Message) (MessageRef, error)
	// Ephemeral shows msg to one user only where the platform can (Slack
	// ephemeral, Discord ephemeral follow-up); elsewhere it posts normally.
	Ephemeral(ctx context.Context, channel, thread, userID string, msg Message) error
	// Edit replaces a posted message in place.
	Edit(ctx context.Context, ref MessageRef, msg Message) error
	// Attach uploads a file (a report, a long listing) into the thread.
	Attach(ctx context.Context, channel, thread, filename string, data []byte, comment string) error
}

// Reply is the immediate answer to a command or click, shown to the person
// who sent it before any job runs: help, a parse or policy error, "queued as
// job 7f3a…". Ephemeral replies are shown to that person only where the
// platform can.
type Reply struct {
	Message   Message `json:"message"`
	Ephemeral bool    `json:"ephemeral,omitempty"`
}

// Handler is what adapters hand commands and clicks to (the router). Both
// methods return quickly (Slack wants an answer within 3 seconds): anything
// long runs as a job whose progress and result are posted later through
// the Surface of the platform the command came from.
type Handler interface {
	HandleCommand(ctx context.Context, in Incoming) Reply
	HandleClick(ctx context.Context, c Click) Reply
}
