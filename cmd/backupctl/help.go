package main

import (
	"encoding/json"
	"fmt"
	"strings"
)

// help prints the action list (with backupctl's own usage first) or one
// action's help, as plain text: the ``` fences chat needs are dropped.
// With --json it prints {"topic": ..., "text": ...}.
func (a *app) help(topic string) error {
	text, err := a.cfg.Parser().HelpText(topic)
	if err != nil {
		return err
	}
	text = strings.ReplaceAll(text, "```\n", "")
	text = strings.TrimSuffix(text, "\n```")
	if a.json {
		out, err := json.MarshalIndent(struct {
			Topic string `json:"topic,omitempty"`
			Text  string `json:"text"`
		}{topic, text}, "", "  ")
		if err != nil {
			return fmt.Errorf("encode help as JSON: %w", err)
		}
		_, err = fmt.Fprintf(a.stdout, "%s\n", out)
		return err
	}
	if topic == "" {
		text = usage + "\n\n" + text
	}
	_, err = fmt.Fprintln(a.stdout, text)
	return err
}
