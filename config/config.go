// Package config loads backupbot's one YAML configuration file: the named
// storages, the named targets, the policy, and the service's own settings.
// Secrets never live in it; they come from the environment or from files
// the configuration names.
package config

import (
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/storage"
)

// File is the whole configuration file.
type File struct {
	// Storages are the names --storage accepts.
	Storages map[string]storage.Spec `yaml:"storages"`
	// Targets are the names --target accepts; "all" means every one.
	Targets map[string]Target `yaml:"targets"`
	// Databases are what `/backup snapshot --resource database` dumps.
	Databases map[string]Database `yaml:"databases,omitempty"`
	// Policy is who may do what, approvals, and the audit log (see
	// policy.Config; keys left out take policy.DefaultConfig's values).
	Policy policy.Config `yaml:"policy"`
	// Console is who the console adapter's typed lines come from (default:
	// the OS user, no groups); policy bindings match "console:USER" and
	// "console-group:GROUP".
	Console struct {
		User   string   `yaml:"user,omitempty"`
		Groups []string `yaml:"groups,omitempty"`
	} `yaml:"console,omitempty"`
	// Alerts is where on-call incidents are posted (see Alerts).
	Alerts Alerts `yaml:"alerts,omitempty"`
}

// Target is a named set of paths to back up.
type Target struct {
	Paths   []string `yaml:"paths"`
	Exclude []string `yaml:"exclude,omitempty"`
}

// Database is one database that `/backup snapshot --resource database`
// dumps into the repository with pg_dump (postgres) or mariadb-dump
// (mariadb, mysql), which must be installed where the worker runs.
type Database struct {
	// Type is postgres, mariadb or mysql.
	Type string `yaml:"type"`
	Host string `yaml:"host,omitempty"`
	Port int    `yaml:"port,omitempty"`
	User string `yaml:"user,omitempty"`
	// Name is the database to dump.
	Name string `yaml:"name"`
	// PasswordEnv names the environment variable that holds the password
	// (the password itself never goes in the file).
	PasswordEnv string `yaml:"password_env,omitempty"`
}
