// Package config loads backupbot's one YAML configuration file: the named
// storages, the named targets, the policy, and the service's own settings.
// Secrets never live in it; they come from the environment or from files
// the configuration names.
package config

import (
	"github.com/backupbot/backupbot/storage"
)

// File is the whole configuration file.
type File struct {
	// Storages are the names --storage accepts.
	Storages map[string]storage.Spec `yaml:"storages"`
	// Targets are the names --target accepts; "all" means every one.
	Targets map[string]Target `yaml:"targets"`
}

// Target is a named set of paths to back up.
type Target struct {
	Paths   []string `yaml:"paths"`
	Exclude []string `yaml:"exclude,omitempty"`
}
