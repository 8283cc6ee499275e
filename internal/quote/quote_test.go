package quote

import "testing"

func TestName(t *testing.T) {
	for in, want := range map[string]string{
		"report.pdf":              "report.pdf",
		"/srv/data/a b/été.txt":   "/srv/data/a b/été.txt",
		"evil\x1b[31mred":         `"evil\x1b[31mred"`,
		"line\nbreak":             `"line\nbreak"`,
		"bell\a":                  `"bell\a"`,
		"\x9b31m":                 `"\x9b31m"`,
		"rtl\u202etxt.exe":        `"rtl\u202etxt.exe"`,
		"del\x7f":                 `"del\x7f"`,
		`"quoted"`:                `"\"quoted\""`,
		"tab\there":               `"tab\there"`,
		"zero\x00byte":            `"zero\x00byte"`,
		"emoji 🗄":                 "emoji 🗄",
		"csi\u009b":               `"csi\u009b"`,
		"invalid \xff\xfe utf8":   `"invalid \xff\xfe utf8"`,
		"\ufffd real replacement": "\ufffd real replacement",
	} {
		if got := Name(in); got != want {
			t.Errorf("Name(%q) = %s, want %s", in, got, want)
		}
	}
}
