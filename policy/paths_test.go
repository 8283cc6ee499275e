package policy

import (
	"strings"
	"testing"

	"github.com/backupbot/backupbot/commands"
)

// pathPolicy is the default policy with one Slack user bound to operator,
// plus extra rules for operator, knowing the configured directories.
func pathPolicy(t *testing.T, extra ...Rule) *Policy {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Bindings = map[string][]string{"operator": {"slack:U0OP"}, "admin": {"slack:U0AD"}}
	cfg.Roles["operator"] = append(cfg.Roles["operator"], extra...)
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p.WithLocations([]string{"/srv/repo", "/srv/data"})
}

func parse(t *testing.T, text string) commands.Command {
	t.Helper()
	cmd, err := commands.Parser{Targets: []string{"data"}, Storages: []string{"local"}}.Parse(text)
	if err != nil {
		t.Fatalf("parse %q: %v", text, err)
	}
	return cmd
}

// Issue 11's point 6: under the default policy a chat user with the
// operator role is refused `create --path /tmp/x` and `restore --to /etc`;
// a rule granting those prefixes allows them.
func TestPathsArePolicy(t *testing.T) {
	operator, admin := slackUser("U0OP"), slackUser("U0AD")
	createTmp := "/backup create --storage local --path /tmp/x --target data"
	restoreEtc := "/backup restore --name nightly --target data --to /etc"
	restoreEtcPreview := restoreEtc + " --preview"

	def := pathPolicy(t)
	for _, tc := range []struct {
		who  Identity
		text string
	}{
		{operator, createTmp},
		{operator, restoreEtc},
		{operator, restoreEtcPreview},
		{operator, "/backup export --name nightly --destination /root/.ssh"},
		{operator, "/backup create --storage local --path /srv/repo/../../tmp/x --target data"}, // cleaned: /tmp/x
		{operator, "/backup create --storage local --path relative/dir --target data"},
		{admin, createTmp}, // admin's rule has no paths either
		{admin, restoreEtc},
	} {
		d := def.Decide(tc.who, "#ops", parse(t, tc.text))
		if d.Allowed {
			t.Errorf("default policy allows %s to run %q (rule %s)", tc.who.UserID, tc.text, d.Rule)
		}
	}
	d := def.Decide(operator, "#ops", parse(t, createTmp))
	if !strings.Contains(d.Reason, "/tmp/x") || !strings.Contains(d.Reason, "paths:") {
		t.Errorf("the refusal does not say which location or how to allow it: %s", d.Reason)
	}
	// Inside what the configuration names, the default allows it.
	for _, text := range []string{
		"/backup create --storage local --path /srv/repo/other --target data",
		"/backup restore --name nightly --target data --to /srv/data/restored --preview",
		"/backup create --target data", // no location typed: unaffected
	} {
		if d := def.Decide(operator, "#ops", parse(t, text)); !d.Allowed {
			t.Errorf("default policy refuses %q: %s", text, d.Reason)
		}
	}

	granted := pathPolicy(t, Rule{Actions: []string{"create", "restore"}, Paths: []string{"/tmp/x", "/etc/"}})
	for _, text := range []string{createTmp, restoreEtc, "/backup create --storage local --path /tmp/x/sub --target data"} {
		if d := granted.Decide(operator, "#ops", parse(t, text)); !d.Allowed {
			t.Errorf("a rule granting /tmp/x and /etc does not allow %q: %s", text, d.Reason)
		}
	}
	for _, text := range []string{"/backup create --storage local --path /tmp/xy --target data", "/backup create --storage local --path /tmp --target data"} {
		if d := granted.Decide(operator, "#ops", parse(t, text)); d.Allowed {
			t.Errorf("a rule granting /tmp/x allows %q", text)
		}
	}

	// A deny rule with paths wins over an allow.
	denied := pathPolicy(t, Rule{Actions: []string{"*"}, Paths: []string{"*"}},
		Rule{Effect: Deny, Actions: []string{"restore"}, Paths: []string{"/etc"}})
	if d := denied.Decide(operator, "#ops", parse(t, restoreEtc)); d.Allowed {
		t.Error("a deny rule on /etc does not stop restore --to /etc")
	}
	if d := denied.Decide(operator, "#ops", parse(t, createTmp)); !d.Allowed {
		t.Errorf("paths: [\"*\"] does not allow /tmp/x: %s", d.Reason)
	}
}

func TestPathsMustBeAbsolute(t *testing.T) {
	cfg := Config{Roles: map[string][]Rule{"op": {{Actions: []string{"restore"}, Paths: []string{"srv/restore"}}}}}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "paths[0]") {
		t.Errorf("a relative prefix is accepted: %v", err)
	}
}

// unknownCommand is a command type the policy's fact code does not know.
type unknownCommand struct{}

func (unknownCommand) Action() commands.Action { return commands.ActionCreate }

func TestUnknownCommandTypeFailsClosed(t *testing.T) {
	p := pathPolicy(t)
	if d := p.Decide(slackUser("U0AD"), "#ops", unknownCommand{}); d.Allowed {
		t.Errorf("a command of an unknown type is allowed: %s", d.Rule)
	}
}
