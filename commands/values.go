package commands

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/robfig/cron/v3"
)

// Date is a calendar date (--date YYYY-MM-DD), without a time zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// Clock is a time of day (--time HH:MM[:SS]).
type Clock struct {
	Hour, Minute, Second int
}

// Cron is a schedule expression that robfig/cron's standard parser accepts
// (five fields, or descriptors such as @daily and @every 1h).
type Cron string

// ParseDate reads a real calendar date written as YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(s))
	if err != nil {
		return Date{}, fmt.Errorf("%q is not a date: write YYYY-MM-DD with a real day, e.g. 2025-01-15", s)
	}
	return Date{Year: t.Year(), Month: t.Month(), Day: t.Day()}, nil
}

// String writes the date as YYYY-MM-DD.
func (d Date) String() string {
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// Time is the start of the date in loc.
func (d Date) Time(loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

// MarshalJSON writes the date as "YYYY-MM-DD".
func (d Date) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.String())
}

// UnmarshalJSON reads a "YYYY-MM-DD" string.
func (d *Date) UnmarshalJSON(b []byte) error {
	return unmarshalParsed(b, d, ParseDate, `date: want a "YYYY-MM-DD" string`)
}

// unmarshalParsed decodes a JSON string and stores what parse reads from
// it in *dst; want starts the error for a value that is no string.
func unmarshalParsed[T any](b []byte, dst *T, parse func(string) (T, error), want string) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%s: %w", want, err)
	}
	return parseInto(dst, s, parse)
}

// parseInto stores what parse reads from s in *dst; on an error *dst is
// left as it was.
func parseInto[T any](dst *T, s string, parse func(string) (T, error)) error {
	v, err := parse(s)
	if err != nil {
		return err
	}
	*dst = v
	return nil
}

var clockPattern = regexp.MustCompile(`^([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?$`)

// ParseClock reads a time of day written as HH:MM or HH:MM:SS (24-hour).
func ParseClock(s string) (Clock, error) {
	m := clockPattern.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return Clock{}, fmt.Errorf("%q is not a time of day: write HH:MM or HH:MM:SS, e.g. 14:30", s)
	}
	h, _ := strconv.Atoi(m[1])
	mi, _ := strconv.Atoi(m[2])
	sec := 0
	if m[3] != "" {
		sec, _ = strconv.Atoi(m[3])
	}
	if h > 23 || mi > 59 || sec > 59 {
		return Clock{}, fmt.Errorf("%q is not a time of day: hours go to 23, minutes and seconds to 59", s)
	}
	return Clock{Hour: h, Minute: mi, Second: sec}, nil
}

// String writes the time as HH:MM:SS.
func (c Clock) String() string {
	return fmt.Sprintf("%02d:%02d:%02d", c.Hour, c.Minute, c.Second)
}

// MarshalJSON writes the time as "HH:MM:SS".
func (c Clock) MarshalJSON() ([]byte, error) {
	return json.Marshal(c.String())
}

// UnmarshalJSON reads an "HH:MM[:SS]" string.
func (c *Clock) UnmarshalJSON(b []byte) error {
	return unmarshalParsed(b, c, ParseClock, `time: want an "HH:MM:SS" string`)
}

// MinCronInterval is the shortest "@every" interval a schedule may use.
const MinCronInterval = time.Minute

// ParseCron checks a schedule expression with robfig/cron's standard
// parser (five fields, descriptors such as @daily, "@every 6h", and an
// optional "CRON_TZ=Area/City " prefix) and returns it trimmed.
func ParseCron(s string) (Cron, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("needs a cron expression: five fields, e.g. \"0 2 * * *\", or @daily")
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", fmt.Errorf("%q is not a cron expression: it contains a control character (a line break or tab?): write five fields \"minute hour day month weekday\", e.g. \"0 2 * * *\", or @daily", s)
	}
	sched, err := parseCronSafely(s)
	if err != nil {
		return "", fmt.Errorf("%q is not a cron expression (%s): write five fields \"minute hour day month weekday\", e.g. \"0 2 * * *\", or @daily, @every 6h", s, strings.Join(strings.FieldsFunc(err.Error(), unicode.IsControl), " "))
	}
	if every, ok := sched.(cron.ConstantDelaySchedule); ok && every.Delay < MinCronInterval {
		return "", fmt.Errorf("%q runs more often than once a minute: backups that frequent would pile up", s)
	}
	return Cron(s), nil
}

// parseCronSafely guards the cron parser against inputs it is known to
// panic on (a time zone prefix with nothing after it).
func parseCronSafely(s string) (sched cron.Schedule, err error) {
	if (strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ=")) && !strings.Contains(s, " ") {
		return nil, errors.New("a time zone prefix needs a schedule after it")
	}
	defer func() {
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("unreadable schedule")
		}
	}()
	return cron.ParseStandard(s)
}

// Schedule returns the parsed schedule; it fails only for a Cron that did
// not come from ParseCron.
func (c Cron) Schedule() (cron.Schedule, error) {
	return parseCronSafely(string(c))
}

// Size units. Decimal units (K, KB, M, MB, G, GB, T, TB) are powers of
// 1000; binary units (Ki, KiB, Mi, MiB, Gi, GiB, Ti, TiB) powers of 1024.
// A bare number, or the unit B, is bytes. Units are case-insensitive.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
	"ki": 1 << 10, "kib": 1 << 10, "mi": 1 << 20, "mib": 1 << 20,
	"gi": 1 << 30, "gib": 1 << 30, "ti": 1 << 40, "tib": 1 << 40,
}

// MaxSize is the largest size accepted (1 PiB).
const MaxSize Size = 1 << 50

var sizePattern = regexp.MustCompile(`^([0-9]{1,16})(?:\.([0-9]{1,9}))? ?([A-Za-z]{0,3})$`)

// ParseSize reads a size such as 4GB, 500MiB, 1.5GB or 10M. Decimal units
// (K/KB, M/MB, G/GB, T/TB) are powers of 1000, binary ones (KiB, MiB, GiB,
// TiB, also Ki, Mi, Gi, Ti) powers of 1024; fractions are rounded down to
// whole bytes. The size must be more than zero and at most 1 PiB.
func ParseSize(s string) (Size, error) {
	m := sizePattern.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("%q is not a size: write a number and a unit, e.g. 4GB, 500MiB or 1.5GB", s)
	}
	unit, ok := sizeUnits[strings.ToLower(m[3])]
	if !ok {
		return 0, fmt.Errorf("%q has an unknown unit %q: use B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024)", s, m[3])
	}
	whole, _ := strconv.ParseInt(m[1], 10, 64)
	if whole > int64(MaxSize)/unit {
		return 0, fmt.Errorf("%q is too big: the largest size is 1PiB", s)
	}
	n := whole * unit
	if frac := m[2]; frac != "" {
		f, _ := strconv.ParseInt(frac, 10, 64)
		scale := int64(1)
		for range len(frac) {
			scale *= 10
		}
		// Reducing unit/scale by their gcd keeps f*unit below 2^62: for
		// binary units gcd = 2^digits, for decimal ones unit/gcd <= 1000.
		n += (f * (unit / gcd(unit, scale))) / (scale / gcd(unit, scale))
	}
	if n <= 0 {
		return 0, fmt.Errorf("%q is not more than zero bytes", s)
	}
	if Size(n) > MaxSize {
		return 0, fmt.Errorf("%q is too big: the largest size is 1PiB", s)
	}
	return Size(n), nil
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// String writes the size in the largest unit that divides it exactly
// (4GB, 500MiB, 1536B), so ParseSize(s.String()) == s.
func (s Size) String() string {
	units := []struct {
		name string
		n    int64
	}{{"TiB", 1 << 40}, {"TB", 1e12}, {"GiB", 1 << 30}, {"GB", 1e9}, {"MiB", 1 << 20}, {"MB", 1e6}, {"KiB", 1 << 10}, {"KB", 1e3}}
	for _, u := range units {
		if s > 0 && int64(s)%u.n == 0 {
			return strconv.FormatInt(int64(s)/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}

// Tag key and value limits.
const (
	maxTagKey   = 128
	maxTagValue = 256
	maxTags     = 50
)

var tagKeyPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:/-]*$`)

// ParseTags reads "key=value,key2=value2". Keys start with a letter or
// digit and hold letters, digits and _ . : / -; values may be empty but
// hold no commas or control characters. Its errors are phrased to follow
// a flag name ("--tags has a tag ...").
func ParseTags(s string) ([]Tag, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("needs key=value, several separated by commas")
	}
	var tags []Tag
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		k, v, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		v = strings.TrimSpace(v)
		switch {
		case part == "":
			return nil, fmt.Errorf("has an empty tag between commas in %s", show(s))
		case !ok:
			return nil, fmt.Errorf("has a tag %s with no value: write key=value", show(part))
		case k == "" || len(k) > maxTagKey || !tagKeyPattern.MatchString(k):
			return nil, fmt.Errorf("has a tag key %s that is not allowed: keys are 1-%d letters, digits or _ . : / -, starting with a letter or digit", show(k), maxTagKey)
		case len(v) > maxTagValue || hasControl(v):
			return nil, fmt.Errorf("has a tag %s whose value is too long or holds control characters", show(k))
		}
		tags = append(tags, Tag{Key: k, Value: v})
	}
	return tags, nil
}

// FormatTags writes tags as "key=value,key2=value2".
func FormatTags(tags []Tag) string {
	parts := make([]string, len(tags))
	for i, t := range tags {
		parts[i] = t.Key + "=" + t.Value
	}
	return strings.Join(parts, ",")
}

// hasControl reports whether s holds invalid UTF-8, a control character,
// an invisible format character (such as a bidi override, which could make
// a name display as another) or a line or paragraph separator.
func hasControl(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
			return true
		}
	}
	return false
}
