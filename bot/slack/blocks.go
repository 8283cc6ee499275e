package slack

import (
	"strings"

	slackapi "github.com/slack-go/slack"

	"github.com/backupbot/backupbot/bot"
)

// Slack's Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks).
const (
	maxSectionText   = 3000 // characters of a section's text
	maxFieldText     = 2000 // characters of one section field
	maxFieldsPerSect = 10   // fields in one section
	maxButtonsPerRow = 25   // elements in one actions block
	maxButtonLabel   = 75   // characters of a button's text
	maxButtonValue   = 2000 // characters of a button's value
	maxBlocks        = 50   // blocks in one message
	// maxTextSections bounds how many sections the text may take, leaving
	// room for fields and buttons; longer text is attached as a file.
	maxTextSections = 30
	// fallbackLimit bounds the notification text sent next to the blocks.
	fallbackLimit = 3000
)

// escape makes service text safe as Slack mrkdwn: &, < and > are Slack's
// control characters (<!channel>, <@U123>, links), so text that quotes
// user input (a backup name) cannot ping or link anyone.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// tooLong reports whether msg's text needs more sections than a message
// should hold; Post then attaches the full text as a file.
func tooLong(msg bot.Message) bool {
	return len(splitText(escape(msg.Text), maxSectionText)) > maxTextSections
}

// blocks renders msg as Block Kit: the text as one or more mrkdwn sections
// (``` fences kept balanced across a split), the fields as section fields
// ten to a section, and the buttons as actions blocks.
func blocks(msg bot.Message) []slackapi.Block {
	var out []slackapi.Block
	for _, chunk := range splitText(escape(msg.Text), maxSectionText) {
		if len(out) == maxTextSections {
			break
		}
		out = append(out, slackapi.NewSectionBlock(slackapi.NewTextBlockObject(slackapi.MarkdownType, chunk, false, false), nil, nil))
	}
	for i := 0; i < len(msg.Fields); i += maxFieldsPerSect {
		var fields []*slackapi.TextBlockObject
		for _, f := range msg.Fields[i:min(i+maxFieldsPerSect, len(msg.Fields))] {
			text := truncate("*"+escape(f.Label)+"*\n"+escape(f.Value), maxFieldText)
			fields = append(fields, slackapi.NewTextBlockObject(slackapi.MarkdownType, text, false, false))
		}
		out = append(out, slackapi.NewSectionBlock(nil, fields, nil))
	}
	for i := 0; i < len(msg.Buttons); i += maxButtonsPerRow {
		var elems []slackapi.BlockElement
		for _, b := range msg.Buttons[i:min(i+maxButtonsPerRow, len(msg.Buttons))] {
			label := slackapi.NewTextBlockObject(slackapi.PlainTextType, truncate(b.Label, maxButtonLabel), false, false)
			btn := slackapi.NewButtonBlockElement(b.ActionID, truncate(b.Value, maxButtonValue), label)
			switch b.Style {
			case "primary":
				btn.Style = slackapi.StylePrimary
			case "danger":
				btn.Style = slackapi.StyleDanger
			}
			elems = append(elems, btn)
		}
		out = append(out, slackapi.NewActionBlock("", elems...))
	}
	if len(out) > maxBlocks {
		out = out[:maxBlocks]
	}
	return out
}

// fallback is the plain notification text sent with the blocks (shown in
// notifications and by clients that cannot draw blocks).
func fallback(msg bot.Message) string {
	text := msg.Text
	if text == "" && len(msg.Fields) > 0 {
		parts := make([]string, 0, len(msg.Fields))
		for _, f := range msg.Fields {
			parts = append(parts, f.Label+": "+f.Value)
		}
		text = strings.Join(parts, ", ")
	}
	return truncate(escape(text), fallbackLimit)
}

// msgOptions are the chat.* options that carry msg.
func msgOptions(msg bot.Message) []slackapi.MsgOption {
	opts := []slackapi.MsgOption{slackapi.MsgOptionText(fallback(msg), false)}
	if b := blocks(msg); len(b) > 0 {
		opts = append(opts, slackapi.MsgOptionBlocks(b...))
	}
	return opts
}

// splitText cuts text into pieces of at most limit bytes, at line breaks
// where it can, closing a ``` code block at the end of a piece and opening
// it again at the start of the next so every piece renders on its own.
func splitText(text string, limit int) []string {
	if text == "" {
		return nil
	}
	if len(text) <= limit {
		return []string{text}
	}
	const fence = "```"
	var (
		out    []string
		cur    strings.Builder
		inCode bool
	)
	flush := func() {
		if cur.Len() == 0 {
			return
		}
		s := cur.String()
		if inCode {
			s += "\n" + fence
		}
		out = append(out, s)
		cur.Reset()
		if inCode {
			cur.WriteString(fence + "\n")
		}
	}
	// room keeps space for a closing fence and the newline before it.
	room := limit - len(fence) - 1
	for _, whole := range strings.SplitAfter(text, "\n") {
		line := whole
		for len(line) > 0 {
			if cur.Len()+len(line) <= room {
				cur.WriteString(line)
				break
			}
			if cur.Len() > len(fence)+1 {
				flush()
				continue
			}
			// One line longer than a piece: cut it at a rune boundary.
			n := cutAt(line, room-cur.Len())
			cur.WriteString(line[:n])
			line = line[n:]
			flush()
		}
		if strings.Count(whole, fence)%2 == 1 {
			inCode = !inCode
		}
	}
	if s := cur.String(); s != "" && !(inCode && s == fence+"\n") {
		out = append(out, s)
	}
	return out
}

// cutAt is the largest n <= max such that s[:n] ends on a rune boundary.
func cutAt(s string, max int) int {
	if max >= len(s) {
		return len(s)
	}
	if max <= 0 {
		max = 1
	}
	for n := max; n > 0; n-- {
		if s[n]&0xC0 != 0x80 { // s[n] starts a rune
			return n
		}
	}
	return max
}

// truncate shortens s to at most limit bytes, ending with "…" when cut.
func truncate(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	return s[:cutAt(s, limit-len("…"))] + "…"
}
