package commands

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// flagGroup gathers flags that help shows on one line.
type flagGroup int

const (
	groupNone        flagGroup = iota
	groupLocation              // --path, --container, --bucket, --region
	groupDiagnostics           // --verbose, --debug
)

// flagSpec is one option of one action, bound to the field it sets. The
// action table builds these; parsing, rendering and help all read them.
type flagSpec struct {
	name  string // without dashes
	arg   string // value placeholder for help ("DAYS"); "" for booleans
	usage string
	group flagGroup
	value flagValue
	// fact is what the flag means to the policy (see FactKind). Every flag
	// declares one; a flag without one is denied by the policy and fails
	// TestEveryFlagDeclaresAPolicyFact.
	fact FactKind
}

// as declares the flag's policy fact: boolFlag("force", ...).as(FactSwitch).
func (f flagSpec) as(k FactKind) flagSpec {
	f.fact = k
	return f
}

// flagValue reads and writes one field of a command.
type flagValue interface {
	// set parses s into the field. Its error's text is shown to the user.
	set(s string) error
	// get writes the field as the text set reads back; "" means unset.
	get() string
}

// repeatable is implemented by flag values that may be given more than once.
type repeatable interface{ repeatable() }

// chooser is implemented by flag values that take one of a fixed list.
type chooser interface{ choices() []string }

// boolValue is a switch: --flag, --flag=true, --flag=false.
type boolValue struct{ p *bool }

func (v boolValue) set(s string) error {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "on", "1":
		*v.p = true
	case "false", "no", "off", "0":
		*v.p = false
	default:
		return fmt.Errorf("takes true or false, not %s", show(s))
	}
	return nil
}

func (v boolValue) get() string { return strconv.FormatBool(*v.p) }

// Limits on free text values.
const (
	maxName = 128  // --name, --user and the like
	maxPath = 4096 // --path, --destination, --to, --filter
)

// textValue is free text: spaces allowed (when quoted), surrounding spaces
// trimmed, no control characters, at most max characters.
type textValue struct {
	p   *string
	max int
}

func (v textValue) set(s string) error {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return errors.New("needs a value that is not empty")
	case hasControl(s):
		return errors.New("must not hold control characters or invalid UTF-8")
	case utf8.RuneCountInString(s) > v.max:
		return fmt.Errorf("is too long: at most %d characters", v.max)
	}
	*v.p = s
	return nil
}

func (v textValue) get() string { return *v.p }

// patternValue is a word that must match a pattern (bucket names, job ids).
type patternValue struct {
	p    *string
	re   *regexp.Regexp
	rule string // what the pattern allows, for the error
}

func (v patternValue) set(s string) error {
	s = strings.TrimSpace(s)
	if !v.re.MatchString(s) {
		return fmt.Errorf("%s is not valid: %s", show(s), v.rule)
	}
	*v.p = s
	return nil
}

func (v patternValue) get() string { return *v.p }

// Patterns for identifiers.
var (
	jobIDPattern     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`)
	bucketPattern    = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	containerPattern = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9]|-[a-z0-9]){2,62}$`)
	regionPattern    = regexp.MustCompile(`^[a-z]{2}(?:-[a-z0-9]+){1,4}$`)
)

const (
	jobIDRule     = "job ids are letters, digits and _ . : - (as shown in the job's messages)"
	bucketRule    = "S3 bucket names are 3-63 lowercase letters, digits, dots and dashes"
	containerRule = "Azure container names are 3-63 lowercase letters, digits and single dashes"
	regionRule    = "regions look like us-east-1 or eu-west-2"
)

// enumValue is one of a fixed set of words, matched case-insensitively.
type enumValue[T ~string] struct {
	p       *T
	allowed []T
}

func (v enumValue[T]) set(s string) error {
	w := strings.ToLower(strings.TrimSpace(s))
	for _, a := range v.allowed {
		if string(a) == w {
			*v.p = a
			return nil
		}
	}
	return &Error{
		Message:    fmt.Sprintf("takes %s, not %s", orList(v.choices()), show(s)),
		Suggestion: suggest(w, v.choices()),
	}
}

func (v enumValue[T]) get() string { return string(*v.p) }

func (v enumValue[T]) choices() []string {
	out := make([]string, len(v.allowed))
	for i, a := range v.allowed {
		out[i] = string(a)
	}
	return out
}

// nameChoice is one of a list of names (targets, storages) that depends on
// the configuration: matched exactly, else case-insensitively when that is
// unambiguous.
type nameChoice struct {
	p       *string
	allowed []string
	what    string // "target", "storage"
	// shown, when set, are the names help lists instead of allowed (the
	// configured ones, not every built-in name the parser accepts).
	shown []string
}

func (v nameChoice) set(s string) error {
	s = strings.TrimSpace(s)
	var folded []string
	for _, a := range v.allowed {
		if a == s {
			*v.p = a
			return nil
		}
		if strings.EqualFold(a, s) {
			folded = append(folded, a)
		}
	}
	if len(folded) == 1 {
		*v.p = folded[0]
		return nil
	}
	return &Error{
		Message:    fmt.Sprintf("takes a %s name (%s), not %s", v.what, strings.Join(v.allowed, ", "), show(s)),
		Suggestion: suggest(s, v.allowed),
	}
}

func (v nameChoice) get() string       { return *v.p }
func (v nameChoice) choices() []string { return v.allowed }

// helpNames are the names help lists.
func (v nameChoice) helpNames() []string {
	if v.shown != nil {
		return v.shown
	}
	return v.allowed
}

// wholeValue is a whole number from 0 to max, with an optional unit suffix
// (30d, 24h) so people can write what they mean.
type wholeValue[T ~int] struct {
	p      *T
	max    int
	unit   string // "days", "hours", "" for a plain count
	suffix string // "d", "h"
}

func (v wholeValue[T]) set(s string) error {
	w := strings.ToLower(strings.TrimSpace(s))
	if v.suffix != "" {
		w = strings.TrimSuffix(w, v.suffix)
	}
	n, err := strconv.Atoi(w)
	if err != nil || n < 0 {
		what := "a whole number"
		if v.unit != "" {
			what += " of " + v.unit
		}
		return fmt.Errorf("takes %s (0 or more), not %s", what, show(s))
	}
	if n > v.max {
		return fmt.Errorf("takes at most %d, not %d", v.max, n)
	}
	*v.p = T(n)
	return nil
}

func (v wholeValue[T]) get() string {
	if *v.p == 0 {
		return ""
	}
	return strconv.Itoa(int(*v.p))
}

// Bounds for whole-number flags.
const (
	maxDays  = 36500  // 100 years
	maxHours = 87600  // 10 years
	maxCount = 100000 // --keep-min
)

// parsedValue is a value that parse reads: a size such as 4GB (ParseSize),
// an optional date or time of day (ParseDate, ParseClock via optional).
// An unset (zero) value shows as "".
type parsedValue[T interface {
	comparable
	fmt.Stringer
}] struct {
	p     *T
	parse func(string) (T, error)
}

func (v parsedValue[T]) set(s string) error { return parseInto(v.p, s, v.parse) }

func (v parsedValue[T]) get() string {
	var unset T
	if *v.p == unset {
		return ""
	}
	return (*v.p).String()
}

// optional turns a parser of T into one of *T, for a flag that may be unset (nil).
func optional[T any](parse func(string) (T, error)) func(string) (*T, error) {
	return func(s string) (*T, error) {
		v, err := parse(s)
		if err != nil {
			return nil, err
		}
		return &v, nil
	}
}

// percentValue is a share above 0 and at most 100, written 5% or 5.
type percentValue struct{ p *Percent }

func (v percentValue) set(s string) error {
	w := strings.TrimSuffix(strings.TrimSpace(s), "%")
	f, err := strconv.ParseFloat(strings.TrimSpace(w), 64)
	if err != nil || f <= 0 || f > 100 || math.IsNaN(f) {
		return fmt.Errorf("takes a percentage above 0 and at most 100, such as 5%%, not %s", show(s))
	}
	*v.p = Percent(f)
	return nil
}

func (v percentValue) get() string {
	if *v.p == 0 {
		return ""
	}
	return strconv.FormatFloat(float64(*v.p), 'g', -1, 64) + "%"
}

// scheduleTypeValue is schedule's --type: a backup type, or restore-test,
// which makes the schedule a recovery drill (the same as --kind
// restore-test).
type scheduleTypeValue struct {
	typ  *BackupType
	kind *ScheduleKind
}

func (v scheduleTypeValue) set(s string) error {
	if strings.EqualFold(strings.TrimSpace(s), string(ScheduleRestoreTest)) {
		*v.kind = ScheduleRestoreTest
		return nil
	}
	err := enumValue[BackupType]{v.typ, backupTypes}.set(s)
	var e *Error
	if errors.As(err, &e) {
		e.Message = fmt.Sprintf("takes %s, not %s", orList(v.choices()), show(s))
		e.Suggestion = suggest(strings.ToLower(s), v.choices())
	}
	return err
}

func (v scheduleTypeValue) get() string { return string(*v.typ) }

func (v scheduleTypeValue) choices() []string {
	return append(enumValue[BackupType]{v.typ, backupTypes}.choices(), string(ScheduleRestoreTest))
}

// cronValue is a schedule expression (see ParseCron).
type cronValue struct{ p *Cron }

func (v cronValue) set(s string) error { return parseInto(v.p, s, ParseCron) }

func (v cronValue) get() string { return string(*v.p) }

// tagsValue collects key=value tags; the flag may be repeated, and a key
// may appear once.
type tagsValue struct{ p *[]Tag }

func (v tagsValue) set(s string) error {
	tags, err := ParseTags(s)
	if err != nil {
		return err
	}
	for _, t := range tags {
		for _, have := range *v.p {
			if have.Key == t.Key {
				return fmt.Errorf("gives tag %s twice", show(t.Key))
			}
		}
		*v.p = append(*v.p, t)
	}
	if len(*v.p) > maxTags {
		return fmt.Errorf("takes at most %d tags", maxTags)
	}
	return nil
}

func (v tagsValue) get() string { return FormatTags(*v.p) }
func (tagsValue) repeatable()   {}

// show quotes user text for an error message, cut to a readable length.
func show(s string) string {
	const limit = 60
	if utf8.RuneCountInString(s) > limit {
		s = string([]rune(s)[:limit]) + "…"
	}
	return strconv.Quote(s)
}

// orList writes "a, b or c".
func orList(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
