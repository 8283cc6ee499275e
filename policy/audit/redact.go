package audit

import (
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/backupbot/backupbot/policy"
)

// Redacted replaces every secret the Redactor finds.
const Redacted = "[REDACTED]"

// Redactor removes secrets from text: the exact values it was given (from
// the environment and password files) and anything shaped like a token,
// as defence in depth behind "entries hold rendered commands, never env".
type Redactor struct {
	secrets []string
}

// minSecretLen: shorter "secrets" would redact ordinary words.
const minSecretLen = 6

// NewRedactor returns a Redactor for the given secret values; empty and
// very short values are ignored.
func NewRedactor(secrets []string) *Redactor {
	var keep []string
	for _, s := range secrets {
		s = strings.TrimSpace(s)
		if len(s) >= minSecretLen {
			keep = append(keep, s)
		}
	}
	// Longest first, so a secret containing another is removed whole.
	sort.Slice(keep, func(i, j int) bool { return len(keep[i]) > len(keep[j]) })
	return &Redactor{secrets: keep}
}

// SecretsFromEnv collects the secret values to redact: the values of
// policy.DefaultSecretEnv() and cfg.RedactEnv, and the contents of the files
// named by policy.DefaultSecretFileEnv() and listed in cfg.RedactFiles.
// getenv is os.Getenv outside tests. Missing variables and unreadable files
// are skipped.
func SecretsFromEnv(cfg policy.AuditConfig, getenv func(string) string) []string {
	var out []string
	for _, name := range append(policy.DefaultSecretEnv(), cfg.RedactEnv...) {
		if v := getenv(name); v != "" {
			out = append(out, v)
		}
	}
	files := slices.Clone(cfg.RedactFiles)
	for _, name := range policy.DefaultSecretFileEnv() {
		if v := getenv(name); v != "" {
			files = append(files, v)
		}
	}
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			if v := strings.TrimSpace(string(b)); v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}

// tokenPatterns match things shaped like credentials. Each keeps the part
// before the secret (group 1, when present) and drops the rest.
var tokenPatterns = []*regexp.Regexp{
	regexp.MustCompile(`xox[abposre]-[A-Za-z0-9-]{8,}`),                                                               // Slack bot/user tokens
	regexp.MustCompile(`xapp-[A-Za-z0-9-]{8,}`),                                                                       // Slack app-level tokens
	regexp.MustCompile(`(?i)(\b(?:Bot|Bearer)\s+)[A-Za-z0-9._~+/=-]{16,}`),                                            // Authorization header values
	regexp.MustCompile(`[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{20,}`),                                   // Discord bot tokens, JWTs
	regexp.MustCompile(`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b`),                                                               // AWS access key ids
	regexp.MustCompile(`(?i)(\b(?:password|passwd|pwd|secret|token|api[_-]?key|accountkey|sig)\s*[=:]\s*)[^\s;&"']+`), // key=value secrets
	regexp.MustCompile(`(://[^/\s:@]+:)[^/\s@]+(@)`),                                                                  // credentials in URLs
}

// Redact returns s with every secret and token-shaped string replaced by
// [REDACTED].
func (r *Redactor) Redact(s string) string {
	if s == "" {
		return s
	}
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, Redacted)
	}
	for _, re := range tokenPatterns {
		s = re.ReplaceAllStringFunc(s, func(m string) string {
			sub := re.FindStringSubmatch(m)
			keep, tail := "", ""
			if len(sub) > 1 {
				keep = sub[1]
			}
			if len(sub) > 2 {
				tail = sub[2]
			}
			return keep + Redacted + tail
		})
	}
	return s
}
