package main

import (
	"encoding/json"
	"fmt"
)

// parse is `backupctl parse TEXT...`: it prints the typed command as
// indented JSON and runs nothing. Both a single chat-style argument
// ('/backup restore --name "pre deployment"') and shell words
// (restore --name "pre deployment") work.
func (a *app) parse(words []string) error {
	cmd, err := a.parseCommand(words)
	if err != nil {
		return err
	}
	out, err := json.MarshalIndent(cmd, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s command as JSON: %w", cmd.Action(), err)
	}
	_, err = fmt.Fprintf(a.stdout, "%s\n", out)
	return err
}
