// Package config loads backupbot's one YAML configuration file: the named
// storages, the named targets, the policy, and the service's own settings.
// Secrets never live in it; they come from the environment or from files
// the configuration names.
package config

import (
	"fmt"
	"os"
	"strings"

	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/storage"
	"github.com/backupbot/backupbot/storage/retention"
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
	// Retention is the default retention policy, its zone, and the
	// retention job's schedule and channel (see Retention).
	Retention Retention `yaml:"retention,omitempty"`
	// Console is who the console adapter's typed lines come from (default:
	// the OS user, no groups); policy bindings match "console:USER" and
	// "console-group:GROUP".
	Console struct {
		User   string   `yaml:"user,omitempty"`
		Groups []string `yaml:"groups,omitempty"`
	} `yaml:"console,omitempty"`
	// HTTP configures the HTTP endpoints.
	HTTP HTTP `yaml:"http,omitempty"`
	// Alerts is where on-call incidents are posted (see Alerts).
	Alerts Alerts `yaml:"alerts,omitempty"`
}

// HTTP is the `http:` section.
type HTTP struct {
	// TokenFile names a file holding the token that /, /readyz and
	// /metrics require (Authorization: Bearer TOKEN, or ?token=TOKEN);
	// /healthz never needs it. Unset: those endpoints are open.
	TokenFile string `yaml:"token_file,omitempty"`
}

// Token reads the token file ("" when none is configured).
func (h HTTP) Token() (string, error) {
	if h.TokenFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(h.TokenFile)
	if err != nil {
		return "", fmt.Errorf("http.token_file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("http.token_file %s is empty", h.TokenFile)
	}
	return t, nil
}

// Target is a named set of paths to back up.
type Target struct {
	Paths   []string `yaml:"paths"`
	Exclude []string `yaml:"exclude,omitempty"`
	// Retention, when set, replaces the default policy for this target.
	Retention *retention.Policy `yaml:"retention,omitempty"`
	// Copies name the storages each new snapshot of the target is copied
	// to after a successful backup (a copy job per storage); a copy that
	// is the backup's own storage is skipped.
	Copies []string `yaml:"copies,omitempty"`
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
