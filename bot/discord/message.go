package discord

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/backupbot/backupbot/bot"
)

// Discord's message limits
// (https://discord.com/developers/docs/resources/message#create-message,
// https://discord.com/developers/docs/resources/message#embed-object-embed-limits,
// https://discord.com/developers/docs/interactions/message-components).
const (
	maxContent       = 2000 // characters of a message's content
	maxEmbeds        = 10   // embeds in one message
	maxEmbedFields   = 25   // fields in one embed
	maxFieldName     = 256  // characters of a field's name
	maxFieldValue    = 1024 // characters of a field's value
	maxEmbedTotal    = 6000 // characters of all embeds of a message together
	maxButtonsPerRow = 5    // buttons in one action row
	maxActionRows    = 5    // action rows in one message
	maxButtonLabel   = 80   // characters of a button's label
	maxCustomID      = 100  // characters of a component's custom_id
	maxThreadName    = 100  // characters of a thread's name
)

// emptyField stands in for an empty field name or value, which Discord
// rejects.
const emptyField = "\u200b"

// longTextName is the file the full text of a message too long for
// Discord is attached as.
const longTextName = "message.txt"

// noMentions stops service text (which quotes user input, such as a backup
// name) from pinging anyone: @everyone, <@id> and <@&role> stay plain text.
var noMentions = &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}

// rendered is a bot.Message in Discord's terms.
type rendered struct {
	Content    string
	Embeds     []*discordgo.MessageEmbed
	Components []discordgo.MessageComponent
	// Full is the whole text when Content had to be cut short ("" when not).
	Full string
}

// render turns msg into Discord content (the text, its light markdown
// adapted), one or more embeds holding the fields, and action rows of
// buttons whose custom_id carries the action id and value.
func (c *customIDs) render(msg bot.Message) rendered {
	r := rendered{Content: discordMarkdown(msg.Text), Embeds: []*discordgo.MessageEmbed{}, Components: []discordgo.MessageComponent{}}
	if utf8.RuneCountInString(r.Content) > maxContent {
		r.Full = msg.Text
		r.Content = cutText(r.Content, maxContent-len(cutNote)) + cutNote
	}
	r.Embeds = embeds(msg.Fields)
	var row discordgo.ActionsRow
	for _, b := range msg.Buttons {
		if len(r.Components) == maxActionRows {
			break
		}
		row.Components = append(row.Components, discordgo.Button{
			Label:    truncate(b.Label, maxButtonLabel),
			Style:    buttonStyle(b.Style),
			CustomID: c.encode(b.ActionID, b.Value),
		})
		if len(row.Components) == maxButtonsPerRow {
			r.Components = append(r.Components, row)
			row = discordgo.ActionsRow{}
		}
	}
	if len(row.Components) > 0 && len(r.Components) < maxActionRows {
		r.Components = append(r.Components, row)
	}
	if r.Content == "" && len(r.Embeds) == 0 && len(r.Components) > 0 {
		r.Content = emptyField // buttons alone need something to hang under
	}
	return r
}

// cutNote ends content cut short by render.
const cutNote = "\n*(too long for one message: the full text is attached as " + longTextName + ")*"

// embeds puts fields into embeds, 25 to an embed, within Discord's limits.
func embeds(fields []bot.Field) []*discordgo.MessageEmbed {
	out := []*discordgo.MessageEmbed{}
	total := 0
	for i := 0; i < len(fields) && len(out) < maxEmbeds; i += maxEmbedFields {
		e := &discordgo.MessageEmbed{}
		for _, f := range fields[i:min(i+maxEmbedFields, len(fields))] {
			name, value := orEmpty(truncate(f.Label, maxFieldName)), orEmpty(truncate(discordMarkdown(f.Value), maxFieldValue))
			total += utf8.RuneCountInString(name) + utf8.RuneCountInString(value)
			if total > maxEmbedTotal {
				break
			}
			e.Fields = append(e.Fields, &discordgo.MessageEmbedField{Name: name, Value: value, Inline: true})
		}
		if len(e.Fields) == 0 {
			break
		}
		out = append(out, e)
	}
	return out
}

func orEmpty(s string) string {
	if strings.TrimSpace(s) == "" {
		return emptyField
	}
	return s
}

// buttonStyle maps bot.Button styles to Discord's: primary (blurple),
// danger (red), anything else secondary (grey).
func buttonStyle(style string) discordgo.ButtonStyle {
	switch style {
	case "primary":
		return discordgo.PrimaryButton
	case "danger":
		return discordgo.DangerButton
	}
	return discordgo.SecondaryButton
}

// send is r as a new message.
func (r rendered) send() *discordgo.MessageSend {
	return &discordgo.MessageSend{Content: r.Content, Embeds: r.Embeds, Components: r.Components, AllowedMentions: noMentions}
}

// edit is r as the new state of a posted message: embeds and buttons are
// always sent so that ones the new state lacks are removed.
func (r rendered) edit() *discordgo.MessageEdit {
	content, embeds, components := r.Content, r.Embeds, r.Components
	return &discordgo.MessageEdit{Content: &content, Embeds: &embeds, Components: &components, AllowedMentions: noMentions}
}

// response is r as the data of an interaction response.
func (r rendered) response(ephemeral bool) *discordgo.InteractionResponseData {
	d := &discordgo.InteractionResponseData{Content: r.Content, Embeds: r.Embeds, Components: r.Components, AllowedMentions: noMentions}
	if ephemeral {
		d.Flags = discordgo.MessageFlagsEphemeral
	}
	return d
}

// followup is r as an interaction follow-up message.
func (r rendered) followup(ephemeral bool) *discordgo.WebhookParams {
	p := &discordgo.WebhookParams{Content: r.Content, Embeds: r.Embeds, Components: r.Components, AllowedMentions: noMentions}
	if ephemeral {
		p.Flags = discordgo.MessageFlagsEphemeral
	}
	return p
}

// boldRE matches Slack-style *bold* (which Discord would show in italics).
var boldRE = regexp.MustCompile(`(^|[^\w*])\*([^*\s](?:[^*\n]*[^*\s])?)\*($|[^\w*])`)

// discordMarkdown adapts the service's light markdown (*bold*, `code`,
// ``` blocks) to Discord's: *bold* becomes **bold** outside code; code
// spans and blocks are left alone.
func discordMarkdown(text string) string {
	if !strings.Contains(text, "*") {
		return text
	}
	var b strings.Builder
	for i, part := range strings.Split(text, "```") {
		if i > 0 {
			b.WriteString("```")
		}
		if i%2 == 1 { // inside a code block
			b.WriteString(part)
			continue
		}
		for j, span := range strings.Split(part, "`") {
			if j > 0 {
				b.WriteString("`")
			}
			if j%2 == 1 {
				b.WriteString(span)
				continue
			}
			// Twice, because neighbouring matches share a delimiter character.
			span = boldRE.ReplaceAllString(span, "$1**$2**$3")
			b.WriteString(boldRE.ReplaceAllString(span, "$1**$2**$3"))
		}
	}
	return b.String()
}

// cutText is the start of text within limit characters, cut at a line
// break where it can, with a ``` block left open by the cut closed again.
func cutText(text string, limit int) string {
	const fence = "\n```"
	cut := truncateRunes(text, limit-len(fence))
	if i := strings.LastIndexByte(cut, '\n'); i > len(cut)/2 {
		cut = cut[:i]
	}
	if strings.Count(cut, "```")%2 == 1 {
		cut += fence
	}
	return cut
}

// truncate cuts s to at most limit characters, marking the cut with "…".
func truncate(s string, limit int) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	return truncateRunes(s, limit-1) + "…"
}

func truncateRunes(s string, limit int) string {
	n := 0
	for i := range s {
		if n == limit {
			return s[:i]
		}
		n++
	}
	return s
}

// threadName names the thread a message starts, from its first line.
func threadName(text string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(text), "\n")
	line = strings.TrimSpace(strings.NewReplacer("*", "", "`", "", "_", "", "~", "").Replace(line))
	if line == "" {
		return "backupbot job"
	}
	return truncate(line, maxThreadName)
}

// customIDs encodes a button's action id and value into the one string
// Discord gives back on a click, custom_id (at most 100 characters):
// "ACTION|VALUE", with %, | and ~ in the action id percent-escaped. The
// rare pair too long for that is kept here under a short key "~HASH"; such
// a button works until the process restarts.
type customIDs struct {
	mu       sync.Mutex
	overflow map[string][2]string
	order    []string
}

// maxOverflowIDs bounds how many over-long button ids are remembered.
const maxOverflowIDs = 4096

var actionEscaper = strings.NewReplacer("%", "%25", "|", "%7C", "~", "%7E")
var actionUnescaper = strings.NewReplacer("%25", "%", "%7C", "|", "%7E", "~")

func (c *customIDs) encode(action, value string) string {
	id := actionEscaper.Replace(action) + "|" + value
	if len(id) <= maxCustomID {
		return id
	}
	sum := sha256.Sum256([]byte(action + "\x00" + value))
	key := "~" + hex.EncodeToString(sum[:16])
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.overflow == nil {
		c.overflow = map[string][2]string{}
	}
	if _, ok := c.overflow[key]; !ok {
		c.overflow[key] = [2]string{action, value}
		c.order = append(c.order, key)
		if len(c.order) > maxOverflowIDs {
			delete(c.overflow, c.order[0])
			c.order = c.order[1:]
		}
	}
	return key
}

// errUnknownButton is a click on a button whose long id was forgotten.
var errUnknownButton = errors.New("this button is from before the bot restarted and no longer works; run the command again")

func (c *customIDs) decode(id string) (action, value string, err error) {
	if strings.HasPrefix(id, "~") {
		c.mu.Lock()
		defer c.mu.Unlock()
		pair, ok := c.overflow[id]
		if !ok {
			return "", "", errUnknownButton
		}
		return pair[0], pair[1], nil
	}
	action, value, ok := strings.Cut(id, "|")
	if !ok {
		return "", "", errors.New("this button was not made by backupbot")
	}
	return actionUnescaper.Replace(action), value, nil
}
