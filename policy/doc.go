// Package policy decides who may run which command: role-based access with
// default deny, two-person approval for destructive actions, locks, and an
// append-only audit log of every decision.
package policy
