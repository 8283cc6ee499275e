// Package policy decides who may run which /backup command: role-based
// access with default deny, evaluated on the typed command and the channel
// it was typed in, never on which platform asked beyond the identity
// strings. A Decision names the rule that allowed or denied the command,
// says in words which role a denied user lacks, and says whether the
// command needs the requester's confirmation or a second person's approval.
//
// The policy is configured under `policy:` in the main configuration file
// (see Config). Every key left out takes the built-in default (see
// DefaultConfig), which makes the console user an admin and grants nothing
// to anybody else, so `make run` works and nothing is open by accident.
//
// Sub-packages hold the parts that need Redis: policy/approval (two-person
// approvals), policy/lock (per-target locks) and policy/audit (the
// append-only audit log).
package policy
