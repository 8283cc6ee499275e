package policy

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/backupbot/backupbot/commands"
)

// Config is the `policy:` section of the configuration file.
//
//	policy:
//	  roles:                       # role name -> rules, checked in order
//	    viewer:
//	      - actions: [help, status, list, approvals]
//	    restorer:
//	      - actions: [restore]
//	        targets: [data, logs]
//	      - actions: [restore]
//	        targets: [config]
//	        channels: ["#ops"]
//	      - actions: [restore]         # restore --to under /srv/restore/
//	        paths: ["/srv/restore/"]
//	    admin:
//	      - actions: ["*"]
//	  bindings:                    # role -> subjects
//	    viewer: ["*"]
//	    restorer: ["slack-group:S0OPS", "discord-role:5678"]
//	    admin: ["console:alice", "slack:U123"]
//	  approval:
//	    required:                  # commands that need a second person
//	      - {actions: [restore], flags: {force: true}}
//	      - {actions: [cleanup], flags: {force: true}}
//	    approvers: [approver, admin]
//	    ttl: 30m
//	  confirmation:
//	    required:                  # commands the requester confirms first
//	      - {actions: [restore], flags: {preview: false}}
//	  audit:
//	    file: ./var/audit.jsonl
//	    stream_max_len: 100000
//	    redact_env: [MY_EXTRA_SECRET]
//
// Every key left out (nil) takes its value from DefaultConfig, except that
// a configuration with roles of its own gets no default bindings and only
// those default approver roles (approver, admin) it defines; an explicit
// empty value (`roles: {}`, `required: []`) means none. Access is denied
// unless a rule of a role the user holds allows it; a rule with
// `effect: deny` overrides every allow.
type Config struct {
	// Roles maps a role name to its rules.
	Roles map[string][]Rule `yaml:"roles,omitempty" json:"roles,omitempty"`
	// Bindings maps a role name to the subjects that hold it: "*" (everyone),
	// "slack:*", "slack:U123", "slack-group:S0ABC" or a group handle,
	// "discord:1234", "discord-role:5678", "console:alice", "console-group:ops".
	Bindings map[string][]string `yaml:"bindings,omitempty" json:"bindings,omitempty"`
	// Approval says which commands need a second person's approval.
	Approval ApprovalConfig `yaml:"approval,omitempty" json:"approval"`
	// Confirmation says which commands the requester confirms with a button.
	Confirmation ConfirmationConfig `yaml:"confirmation,omitempty" json:"confirmation"`
	// Audit configures the audit log.
	Audit AuditConfig `yaml:"audit,omitempty" json:"audit"`
}

// Effect is what a matching rule does.
type Effect string

// Rule effects; the empty effect is allow.
const (
	Allow Effect = "allow"
	Deny  Effect = "deny"
)

// Rule is one grant (or, with Effect deny, one prohibition) of a role. A
// rule matches a command when every condition it sets holds; a condition
// left empty matches anything. A condition on something the action does
// not have (a target condition on `help`) is ignored, and an unset value is
// compared as its default: target "all", storage "default", type "any",
// resource "all". "*" in any list matches every value.
type Rule struct {
	Effect Effect `yaml:"effect,omitempty" json:"effect,omitempty"`
	// Actions the rule covers ("*" for all). Required.
	Actions []string `yaml:"actions" json:"actions"`
	// Targets are --target names.
	Targets []string `yaml:"targets,omitempty" json:"targets,omitempty"`
	// Storages are --storage names.
	Storages []string `yaml:"storages,omitempty" json:"storages,omitempty"`
	// Types are backup types (full, incremental, differential).
	Types []string `yaml:"types,omitempty" json:"types,omitempty"`
	// Resources are snapshot resources (vm, database, storage, all).
	Resources []string `yaml:"resources,omitempty" json:"resources,omitempty"`
	// Channels are where the command may be typed ("#ops" and "ops" are the
	// same; compared case-insensitively with the channel the bot reports,
	// which may be "ID|name": a rule naming either the ID or the name matches).
	Channels []string `yaml:"channels,omitempty" json:"channels,omitempty"`
	// Flags maps a flag name (force, dry-run, preview, fix, ... see
	// KnownFlags) to the value it must have; a flag the action does not
	// have reads as false.
	Flags map[string]bool `yaml:"flags,omitempty" json:"flags,omitempty"`
	// Paths are absolute path prefixes ("/srv/restore/") or "*" for the
	// locations typed into a command: `--path` of a storage, `restore
	// --to`, `export --destination`. An allow rule with paths allows a
	// command only when every location it names lies under one of them;
	// an allow rule without paths allows only locations inside the
	// configured storages and targets. A deny rule with paths forbids
	// commands naming a location under one of them.
	Paths []string `yaml:"paths,omitempty" json:"paths,omitempty"`
}

// ApprovalConfig configures two-person approval.
type ApprovalConfig struct {
	// Required lists matchers (Rule conditions; Effect is ignored) for the
	// commands that need approval. Default: restore --force.
	Required []Rule `yaml:"required,omitempty" json:"required,omitempty"`
	// Approvers are the roles whose holders may approve. Default: approver, admin.
	Approvers []string `yaml:"approvers,omitempty" json:"approvers,omitempty"`
	// TTL is how long a request stays approvable. Default 30m.
	TTL time.Duration `yaml:"ttl,omitempty" json:"ttl,omitempty"`
}

// ConfirmationConfig configures the requester's own confirmation.
type ConfirmationConfig struct {
	// Required lists matchers for the commands the requester confirms after
	// seeing a preview. Default: a restore that writes (not --preview). A
	// command that needs approval is not also asked for confirmation.
	Required []Rule `yaml:"required,omitempty" json:"required,omitempty"`
}

// AuditConfig configures the audit log (see policy/audit).
type AuditConfig struct {
	// File is the JSON-lines file entries are appended to. Default
	// ./var/audit.jsonl; "-" disables the file (the Redis stream remains).
	File string `yaml:"file,omitempty" json:"file,omitempty"`
	// StreamMaxLen caps the Redis stream (approximately). Default 100000.
	StreamMaxLen int64 `yaml:"stream_max_len,omitempty" json:"stream_max_len,omitempty"`
	// RedactEnv names environment variables whose values are secrets and are
	// replaced by [REDACTED] wherever they appear in an entry, in addition
	// to DefaultSecretEnv().
	RedactEnv []string `yaml:"redact_env,omitempty" json:"redact_env,omitempty"`
	// RedactFiles names files whose contents are secrets (password files).
	RedactFiles []string `yaml:"redact_files,omitempty" json:"redact_files,omitempty"`
}

// DefaultSecretEnv lists the environment variables (from interfaces.md)
// whose values never appear in the audit log.
func DefaultSecretEnv() []string {
	return []string{
		"REDIS_URL", "BACKUPBOT_REPO_PASSWORD", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET",
		"SLACK_APP_TOKEN", "DISCORD_BOT_TOKEN", "DISCORD_PUBLIC_KEY", "AWS_SECRET_ACCESS_KEY",
		"AWS_SESSION_TOKEN", "AZURE_STORAGE_CONNECTION_STRING", "AZURE_CLIENT_SECRET",
	}
}

// DefaultSecretFileEnv lists environment variables naming files whose
// contents are secrets.
func DefaultSecretFileEnv() []string { return []string{"BACKUPBOT_REPO_PASSWORD_FILE"} }

// Defaults used when the configuration leaves a key out.
const (
	DefaultApprovalTTL  = 30 * time.Minute
	DefaultAuditFile    = "./var/audit.jsonl"
	DefaultStreamMaxLen = 100000
)

// DefaultConfig is the built-in policy used for every key the
// configuration leaves out. Roles:
//
//   - viewer: help, status, list, approvals
//   - operator: viewer's actions plus create, verify (without --fix),
//     snapshot, test, analyze, export, copy, schedule, cancel, restore --preview,
//     cleanup --dry-run and cleanup without --force
//   - restorer: viewer's actions plus verify and restore of any target,
//     except that restoring config or all is allowed only in #ops
//   - approver: viewer's actions plus audit; may approve
//   - admin: everything; may approve
//
// Bindings: admin is held by every console user ("console:*"); nobody on
// Slack or Discord holds anything until the configuration says so.
// Approval: restore --force, by approver or admin, valid 30 minutes.
// Confirmation: any restore that writes.
func DefaultConfig() Config {
	read := []string{"help", "status", "list", "approvals"}
	return Config{
		Roles: map[string][]Rule{
			"viewer": {{Actions: read}},
			"operator": {
				{Actions: append(slices.Clone(read), "create", "snapshot", "test", "analyze", "export", "copy", "schedule", "cancel")},
				{Actions: []string{"verify"}, Flags: map[string]bool{"fix": false}},
				{Actions: []string{"restore"}, Flags: map[string]bool{"preview": true}},
				{Actions: []string{"cleanup"}, Flags: map[string]bool{"force": false}},
			},
			"restorer": {
				{Actions: append(slices.Clone(read), "verify")},
				{Actions: []string{"restore"}, Targets: []string{"data", "state", "logs"}},
				{Actions: []string{"restore"}, Targets: []string{"config", "all"}, Channels: []string{"#ops"}},
			},
			"approver": {{Actions: append(slices.Clone(read), "audit")}},
			"admin":    {{Actions: []string{"*"}}},
		},
		Bindings: map[string][]string{
			"admin": {"console:*"},
		},
		Approval: ApprovalConfig{
			Required:  []Rule{{Actions: []string{"restore"}, Flags: map[string]bool{"force": true}}},
			Approvers: []string{"approver", "admin"},
			TTL:       DefaultApprovalTTL,
		},
		Confirmation: ConfirmationConfig{
			Required: []Rule{{Actions: []string{"restore"}, Flags: map[string]bool{"preview": false}}},
		},
		Audit: AuditConfig{File: DefaultAuditFile, StreamMaxLen: DefaultStreamMaxLen},
	}
}

// WithDefaults returns c with every key left out filled from DefaultConfig.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	ownRoles := c.Roles != nil
	if !ownRoles {
		c.Roles = d.Roles
	}
	if c.Bindings == nil {
		// The default bindings name the default roles; with roles of
		// its own, a configuration that binds nobody grants nothing.
		c.Bindings = map[string][]string{}
		if !ownRoles {
			c.Bindings = d.Bindings
		}
	}
	if c.Approval.Required == nil {
		c.Approval.Required = d.Approval.Required
	}
	if c.Approval.Approvers == nil {
		// approver and admin, as far as the roles define them.
		c.Approval.Approvers = []string{}
		for _, r := range d.Approval.Approvers {
			if _, ok := c.Roles[r]; ok {
				c.Approval.Approvers = append(c.Approval.Approvers, r)
			}
		}
	}
	if c.Approval.TTL == 0 {
		c.Approval.TTL = d.Approval.TTL
	}
	if c.Confirmation.Required == nil {
		c.Confirmation.Required = d.Confirmation.Required
	}
	if c.Audit.File == "" {
		c.Audit.File = d.Audit.File
	}
	if c.Audit.StreamMaxLen == 0 {
		c.Audit.StreamMaxLen = d.Audit.StreamMaxLen
	}
	return c
}

// KnownActions are the action names a rule may list, besides "*": every
// action of the command table.
func KnownActions() []string {
	var out []string
	for _, a := range (commands.Schema{}).Actions() {
		out = append(out, string(a))
	}
	return out
}

// KnownFlags are the flag names a rule's Flags may test: every option the
// command table declares as a switch fact (commands.FactSwitch).
func KnownFlags() []string {
	var out []string
	schema := commands.Schema{}
	for _, a := range schema.Actions() {
		flags, _ := schema.Flags(a)
		for _, f := range flags {
			if f.Kind == commands.FactSwitch && !slices.Contains(out, f.Flag) {
				out = append(out, f.Flag)
			}
		}
	}
	sort.Strings(out)
	return out
}

// ConfigError is a policy that cannot be used: where (a path such as
// policy.roles.operator[2].actions and, when known, the line) and why.
type ConfigError struct {
	// File is the file the policy came from, when known.
	File string
	// Path locates the bad value, e.g. "policy.roles.operator[2].flags".
	Path string
	// Line is the 1-based line of the bad value, 0 when unknown.
	Line int
	// Reason says what is wrong and what is accepted.
	Reason string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString("policy ")
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(" ")
	} else if e.Line > 0 {
		fmt.Fprintf(&b, "line %d ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Validate checks that every rule names known actions and flags, that
// bindings and approvers name defined roles and valid subjects, and that
// durations are positive. It checks c as given, without defaults.
func (c Config) Validate() error {
	roleNames := slices.Sorted(maps.Keys(c.Roles))
	for _, role := range roleNames {
		if strings.TrimSpace(role) == "" {
			return &ConfigError{Path: "policy.roles", Reason: "a role has an empty name"}
		}
		for i, r := range c.Roles[role] {
			if err := r.validate(fmt.Sprintf("policy.roles.%s[%d]", role, i), true); err != nil {
				return err
			}
		}
	}
	for _, role := range slices.Sorted(maps.Keys(c.Bindings)) {
		path := "policy.bindings." + role
		if _, ok := c.Roles[role]; !ok && c.Roles != nil {
			return &ConfigError{Path: path, Reason: fmt.Sprintf("binds role %q, which is not defined under policy.roles (defined: %s)", role, strings.Join(roleNames, ", "))}
		}
		for i, s := range c.Bindings[role] {
			if err := validateSubject(s); err != nil {
				return &ConfigError{Path: fmt.Sprintf("%s[%d]", path, i), Reason: err.Error()}
			}
		}
	}
	for i, r := range c.Approval.Required {
		if err := r.validate(fmt.Sprintf("policy.approval.required[%d]", i), false); err != nil {
			return err
		}
	}
	for i, role := range c.Approval.Approvers {
		if _, ok := c.Roles[role]; !ok && c.Roles != nil {
			return &ConfigError{Path: fmt.Sprintf("policy.approval.approvers[%d]", i), Reason: fmt.Sprintf("role %q is not defined under policy.roles (defined: %s)", role, strings.Join(roleNames, ", "))}
		}
	}
	if c.Approval.TTL < 0 {
		return &ConfigError{Path: "policy.approval.ttl", Reason: "must be a positive duration such as 30m"}
	}
	for i, r := range c.Confirmation.Required {
		if err := r.validate(fmt.Sprintf("policy.confirmation.required[%d]", i), false); err != nil {
			return err
		}
	}
	if c.Audit.StreamMaxLen < 0 {
		return &ConfigError{Path: "policy.audit.stream_max_len", Reason: "must be a positive number of entries"}
	}
	return nil
}

func (r Rule) validate(path string, needActions bool) error {
	switch r.Effect {
	case "", Allow, Deny:
	default:
		return &ConfigError{Path: path + ".effect", Reason: fmt.Sprintf("unknown effect %q (use allow or deny)", r.Effect)}
	}
	if needActions && len(r.Actions) == 0 {
		return &ConfigError{Path: path + ".actions", Reason: "a rule needs at least one action (or \"*\")"}
	}
	known := KnownActions()
	for i, a := range r.Actions {
		if a != "*" && !slices.Contains(known, a) {
			return &ConfigError{Path: fmt.Sprintf("%s.actions[%d]", path, i), Reason: fmt.Sprintf("unknown action %q (known: %s, or \"*\")", a, strings.Join(known, ", "))}
		}
	}
	for _, t := range r.Types {
		switch t {
		case "*", "any", string(commands.TypeFull), string(commands.TypeIncremental), string(commands.TypeDifferential):
		default:
			return &ConfigError{Path: path + ".types", Reason: fmt.Sprintf("unknown backup type %q (full, incremental, differential)", t)}
		}
	}
	for _, res := range r.Resources {
		switch commands.Resource(res) {
		case "*", commands.ResourceVM, commands.ResourceDatabase, commands.ResourceStorage, commands.ResourceAll:
		default:
			return &ConfigError{Path: path + ".resources", Reason: fmt.Sprintf("unknown resource %q (vm, database, storage, all)", res)}
		}
	}
	for i, p := range r.Paths {
		if p = strings.TrimSpace(p); p != "*" && !strings.HasPrefix(p, "/") {
			return &ConfigError{Path: fmt.Sprintf("%s.paths[%d]", path, i), Reason: fmt.Sprintf("path %q is not absolute (write a prefix such as /srv/restore/, or \"*\" for anywhere)", p)}
		}
	}
	flags := KnownFlags()
	for _, f := range slices.Sorted(maps.Keys(r.Flags)) {
		if !slices.Contains(flags, f) {
			return &ConfigError{Path: path + ".flags." + f, Reason: fmt.Sprintf("unknown flag %q (known: %s)", f, strings.Join(flags, ", "))}
		}
	}
	return nil
}

func validateSubject(s string) error {
	if s == "*" {
		return nil
	}
	kind, id, ok := strings.Cut(s, ":")
	if !ok || id == "" {
		return fmt.Errorf("subject %q is not of the form KIND:ID (slack:U123, slack-group:S0ABC, discord:1234, discord-role:5678, console:alice, or *)", s)
	}
	switch strings.ToLower(kind) {
	case PlatformConsole, PlatformSlack, PlatformDiscord,
		"console-group", "slack-group", "discord-group", "discord-role":
		return nil
	}
	return fmt.Errorf("subject %q has unknown kind %q (slack, slack-group, discord, discord-role, console, console-group)", s, kind)
}
