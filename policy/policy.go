package policy

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/backupbot/backupbot/commands"
)

// Policy is a validated, ready-to-use Config. It is immutable and safe for
// concurrent use; Decide is pure and cheap, so workers call it again before
// they do the work.
type Policy struct {
	cfg       Config
	roleNames []string
	// schema is where the facts rules test come from; the zero value is
	// the command table (tests swap in one with an extra flag).
	schema commands.Schema
	// unloaded marks the stand-in of a Holder with no policy yet: it
	// allows nothing, not even help.
	unloaded bool
	// holders maps a normalized subject to the roles bound to it.
	holders map[string][]string
	// locations are the directories the configuration names (see
	// WithLocations).
	locations []string
}

// New validates cfg (after filling the keys it leaves out from
// DefaultConfig) and compiles it.
func New(cfg Config) (*Policy, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Policy{cfg: cfg, roleNames: slices.Sorted(maps.Keys(cfg.Roles)), holders: map[string][]string{}}
	for _, role := range slices.Sorted(maps.Keys(cfg.Bindings)) {
		for _, s := range cfg.Bindings[role] {
			key := normalizeSubject(s)
			if !slices.Contains(p.holders[key], role) {
				p.holders[key] = append(p.holders[key], role)
			}
		}
	}
	return p, nil
}

// Default is the built-in policy (DefaultConfig): console users are
// admins, nobody else holds a role.
func Default() *Policy {
	p, err := New(DefaultConfig())
	if err != nil {
		panic("policy: the built-in default policy is invalid: " + err.Error())
	}
	return p
}

// Config returns the configuration in force, with defaults filled in.
func (p *Policy) Config() Config { return p.cfg }

// ApprovalTTL is how long an approval request stays approvable.
func (p *Policy) ApprovalTTL() time.Duration { return p.cfg.Approval.TTL }

// ApproverRoles are the roles whose holders may approve.
func (p *Policy) ApproverRoles() []string { return slices.Clone(p.cfg.Approval.Approvers) }

// RolesOf lists the roles id holds, sorted.
func (p *Policy) RolesOf(id Identity) []string {
	var roles []string
	for _, s := range id.Subjects() {
		for _, r := range p.holders[normalizeSubject(s)] {
			if !slices.Contains(roles, r) {
				roles = append(roles, r)
			}
		}
	}
	sort.Strings(roles)
	return roles
}

// CanApprove reports whether id holds one of the approver roles.
func (p *Policy) CanApprove(id Identity) bool {
	for _, r := range p.RolesOf(id) {
		if slices.Contains(p.cfg.Approval.Approvers, r) {
			return true
		}
	}
	return false
}

// RuleDefaultDeny is Decision.Rule when no rule allowed the command.
const RuleDefaultDeny = "default deny"

// RuleHelpForEveryone is Decision.Rule when help is allowed to a user no
// role allows it to: help is open to every authenticated identity.
const RuleHelpForEveryone = "help for everyone"

// RuleUnknownFact is Decision.Rule when the command has an action or an
// option the policy does not know how to judge (no policy fact declared
// for it in the command table): the policy fails closed.
const RuleUnknownFact = "unknown to the policy"

// Decision is the verdict on one command.
type Decision struct {
	// Allowed says whether the command may run (possibly after confirmation
	// or approval).
	Allowed bool `json:"allowed"`
	// Rule names the rule that decided: "role operator rule 2",
	// "role viewer rule 1 (deny)" or "default deny". Rules count from 1.
	Rule string `json:"rule"`
	// Reason is a sentence for the user: on denial it names the role they
	// lack (or the channel the command is allowed in).
	Reason string `json:"reason"`
	// Roles are the roles the identity holds.
	Roles []string `json:"roles,omitempty"`
	// NeedsApproval: a second person with an approver role must approve
	// (see policy/approval) before the command runs.
	NeedsApproval bool `json:"needs_approval,omitempty"`
	// NeedsConfirmation: the requester must see the preview and confirm.
	// Never set together with NeedsApproval.
	NeedsConfirmation bool `json:"needs_confirmation,omitempty"`
}

// Decide says whether id may run cmd typed in channel. Denied unless a rule
// of a role id holds allows it; a matching deny rule overrides any allow.
// Roles are checked in name order, rules in the order written.
func (p *Policy) Decide(id Identity, channel string, cmd commands.Command) Decision {
	if cmd == nil {
		return Decision{Rule: RuleDefaultDeny, Reason: "there is no command to check"}
	}
	f := factsOf(p.schema, cmd)
	f.locations = p.locations
	held := p.RolesOf(id)
	d := Decision{Roles: held}
	if f.unknown != "" {
		d.Rule = RuleUnknownFact
		d.Reason = fmt.Sprintf("`%s` is denied: the policy does not know %s", f.describe(), f.unknown)
		return d
	}

	allowRole, allowIdx := "", 0
	for _, role := range held {
		for i, r := range p.cfg.Roles[role] {
			if !r.matches(f, channel, false) {
				continue
			}
			if r.Effect == Deny {
				d.Rule = fmt.Sprintf("role %s rule %d (deny)", role, i+1)
				d.Reason = fmt.Sprintf("`%s` is forbidden for role %s (rule %d)", f.describe(), role, i+1)
				return d
			}
			if allowRole == "" {
				allowRole, allowIdx = role, i+1
			}
		}
	}
	if allowRole != "" {
		d.Allowed = true
		d.Rule = fmt.Sprintf("role %s rule %d", allowRole, allowIdx)
		d.Reason = fmt.Sprintf("`%s` is allowed by role %s", f.describe(), allowRole)
		d.NeedsApproval = anyMatches(p.cfg.Approval.Required, f, channel)
		d.NeedsConfirmation = !d.NeedsApproval && anyMatches(p.cfg.Confirmation.Required, f, channel)
		return d
	}

	if f.action == string(commands.ActionHelp) && !p.unloaded && id.Platform != "" && id.UserID != "" {
		// Help is how a new user finds out what to ask for: anyone the
		// platform authenticated may read it, role or not (a deny rule
		// above still wins).
		d.Allowed = true
		d.Rule = RuleHelpForEveryone
		d.Reason = "`help` is open to everyone signed in"
		return d
	}

	d.Rule = RuleDefaultDeny
	d.Reason = p.denialReason(f, channel, held, id)
	return d
}

// denialReason explains a default deny: the channel the user's own role
// would allow it in, or the roles that would allow it.
func (p *Policy) denialReason(f facts, channel string, held []string, id Identity) string {
	what := "`" + f.describe() + "`"
	if len(f.paths) > 0 {
		loose := f
		loose.ignorePaths = true
		for _, role := range held {
			for _, r := range p.cfg.Roles[role] {
				if r.Effect != Deny && r.matches(loose, channel, false) {
					return fmt.Sprintf("%s names a location (%s) that no rule of your role %s allows: by default only the configured storages' and targets' directories are; a rule with `paths:` can allow more",
						what, strings.Join(f.paths, ", "), role)
				}
			}
		}
	}
	for _, role := range held {
		for _, r := range p.cfg.Roles[role] {
			if r.Effect != Deny && r.matches(f, channel, true) {
				where := make([]string, len(r.Channels))
				for i, c := range r.Channels {
					where[i] = "#" + strings.TrimPrefix(c, "#")
				}
				here := ""
				if channel != "" {
					here = fmt.Sprintf(" (this is #%s)", strings.TrimPrefix(channel, "#"))
				}
				return fmt.Sprintf("%s is allowed for your role %s only in %s%s", what, role, strings.Join(where, " or "), here)
			}
		}
	}
	var needed []string
	for _, role := range p.roleNames {
		if slices.Contains(held, role) {
			continue
		}
		for _, r := range p.cfg.Roles[role] {
			if r.Effect != Deny && r.matches(f, channel, true) {
				needed = append(needed, role)
				break
			}
		}
	}
	have := "you hold no role"
	if len(held) > 0 {
		have = "you have " + strings.Join(held, ", ")
	}
	if len(needed) == 0 {
		return fmt.Sprintf("no role allows %s (%s)", what, have)
	}
	return fmt.Sprintf("%s needs the role %s; %s. %s", what, strings.Join(needed, " or "), have, bindHint(id, needed))
}

// bindHint tells a refused user their ID as bindings spell it and the
// configuration key that would give them one of the roles needed (the
// least powerful first: admin is named only when nothing else would do).
func bindHint(id Identity, needed []string) string {
	if id.Platform == "" || id.UserID == "" {
		return ""
	}
	role := needed[0]
	for _, r := range needed {
		if r != "admin" {
			role = r
			break
		}
	}
	subject := strings.ToLower(id.Platform) + ":" + id.UserID
	return fmt.Sprintf("Your ID is %s; an admin can give you the role by adding %q to policy.bindings.%s in the configuration", subject, subject, role)
}

func anyMatches(rules []Rule, f facts, channel string) bool {
	f.matcher = true
	return slices.ContainsFunc(rules, func(r Rule) bool { return r.matches(f, channel, false) })
}

func normalizeSubject(s string) string {
	s = strings.TrimSpace(s)
	kind, id, ok := strings.Cut(s, ":")
	if !ok {
		return s
	}
	kind = strings.ToLower(kind)
	if kind == "discord-group" {
		kind = "discord-role"
	}
	return kind + ":" + id
}

// ErrNoLongerAllowed is matched (errors.Is) by the error Recheck returns
// when the requester may no longer run a queued command.
var ErrNoLongerAllowed = errors.New("requester is no longer allowed to run this command")

// RevokedError says a queued job will not run because its requester lost
// the permission since it was enqueued.
type RevokedError struct {
	JobID     string
	Requester Identity
	Command   string
	Decision  Decision
}

func (e *RevokedError) Error() string {
	job := "the job"
	if e.JobID != "" {
		job = "job " + e.JobID
	}
	return fmt.Sprintf("%s was not run: %s is no longer allowed to run `%s` (%s; %s)",
		job, e.Requester.Display(), e.Command, e.Decision.Reason, e.Decision.Rule)
}

// Is makes errors.Is(err, ErrNoLongerAllowed) true.
func (e *RevokedError) Is(target error) bool { return target == ErrNoLongerAllowed }

// Recheck is the worker's check before it does the work: it decides again
// with the stored requester and channel and returns a *RevokedError (fit to
// post in the job's thread) when the command is no longer allowed, nil
// when it still is. Approval and confirmation are not asked again.
func (p *Policy) Recheck(jobID string, requester Identity, channel string, cmd commands.Command) error {
	d := p.Decide(requester, channel, cmd)
	if d.Allowed {
		return nil
	}
	desc := ""
	if cmd != nil {
		desc = factsOf(p.schema, cmd).describe()
	}
	return &RevokedError{JobID: jobID, Requester: requester, Command: desc, Decision: d}
}
