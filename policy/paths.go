package policy

import (
	"path/filepath"
	"slices"
	"strings"
)

// Paths typed into a command (`--path` of a storage, `restore --to`,
// `export --destination`) are facts like targets and storages: a worker
// writes or reads there with its own permissions, so where is policy.
//
// A rule with `paths:` allows (or, with effect deny, forbids) locations
// under the listed prefixes ("/srv/restore/" covers /srv/restore and
// everything below it; "*" is anywhere). An allow rule without `paths:`
// allows only locations inside what the configuration already names:
// its storages' and targets' directories (Policy.WithLocations). A
// relative path is under no prefix but "*". So by default a chat user,
// whatever their role, cannot point a worker at /etc or /tmp/x.

// pathFacts returns the explicit locations in a command, cleaned.
func cleanPath(p string) string {
	p = strings.TrimSpace(p)
	if p == "" {
		return ""
	}
	return filepath.Clean(p)
}

// under reports whether path p lies at or below prefix.
func under(p, prefix string) bool {
	prefix = strings.TrimSpace(prefix)
	if prefix == "*" {
		return true
	}
	if p == "" || !filepath.IsAbs(p) || !filepath.IsAbs(prefix) {
		return false
	}
	prefix = filepath.Clean(prefix)
	if p == prefix || prefix == "/" {
		return true
	}
	return strings.HasPrefix(p, prefix+string(filepath.Separator))
}

func underAny(p string, prefixes []string) bool {
	return slices.ContainsFunc(prefixes, func(pre string) bool { return under(p, pre) })
}

// pathsMatch is a rule's condition on the command's locations. grant says
// whether the rule allows (every location must be covered) or only matches
// (a deny rule or an approval matcher: one covered location is enough, and
// a rule without `paths:` does not look at locations).
func (r Rule) pathsMatch(f facts, grant bool) bool {
	if len(f.paths) == 0 || f.ignorePaths {
		return true
	}
	if !grant {
		if len(r.Paths) == 0 {
			return true
		}
		return slices.ContainsFunc(f.paths, func(p string) bool { return underAny(p, r.Paths) })
	}
	allowed := r.Paths
	if len(allowed) == 0 {
		allowed = f.locations
	}
	for _, p := range f.paths {
		if !underAny(p, allowed) {
			return false
		}
	}
	return true
}

// WithLocations returns a copy of p that knows the directories the
// configuration names (storage and target paths, made absolute by the
// caller): an allow rule without `paths:` allows a typed location only
// inside one of them.
func (p *Policy) WithLocations(locations []string) *Policy {
	q := *p
	q.locations = nil
	for _, l := range locations {
		if l = cleanPath(l); l != "" && filepath.IsAbs(l) {
			q.locations = append(q.locations, l)
		}
	}
	return &q
}

// Locations returns the configured directories the policy knows.
func (p *Policy) Locations() []string { return slices.Clone(p.locations) }
