package smb

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// DefaultPort is the SMB port servers listen on unless configured otherwise.
const DefaultPort = 445

// Location is where on an SMB server a repository lives.
type Location struct {
	Host  string
	Port  int // 0: DefaultPort
	Share string
	// Dir is the repository directory inside the share, slash-separated,
	// without leading or trailing slashes ("" is the share's root).
	Dir string
}

// String renders the location as an smb:// URL (never with credentials).
func (l Location) String() string {
	host := l.Host
	if l.Port != 0 && l.Port != DefaultPort {
		host += ":" + strconv.Itoa(l.Port)
	}
	s := "smb://" + host + "/" + l.Share
	if l.Dir != "" {
		s += "/" + l.Dir
	}
	return s
}

// IsSMBPath reports whether p is written as an SMB location: an smb:// URL
// or a UNC path (\\host\share\... or //host/share/...).
func IsSMBPath(p string) bool {
	p = strings.TrimSpace(p)
	return strings.HasPrefix(strings.ToLower(p), "smb://") || strings.HasPrefix(p, `\\`) || strings.HasPrefix(p, "//")
}

// IsDriveLetterPath reports whether p starts with a Windows drive letter
// ("D:/Backups", `D:\Backups`, "D:"), which names nothing on Linux.
func IsDriveLetterPath(p string) bool {
	p = strings.TrimSpace(p)
	if len(p) < 2 || p[1] != ':' {
		return false
	}
	c := p[0]
	if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
		return false
	}
	return len(p) == 2 || p[2] == '/' || p[2] == '\\'
}

// ParseLocation reads an smb://host[:port]/share/path URL or a UNC path
// (\\host\share\path, also with forward slashes). A UNC path has no port;
// defaultPort (0 for DefaultPort) applies to it and to a URL without one.
func ParseLocation(p string, defaultPort int) (Location, error) {
	p = strings.TrimSpace(p)
	var host, rest string
	switch {
	case strings.HasPrefix(strings.ToLower(p), "smb://"):
		u, err := url.Parse(p)
		if err != nil {
			return Location{}, fmt.Errorf("SMB location %q: %w", p, err)
		}
		if u.User != nil {
			return Location{}, fmt.Errorf("SMB location %q: put no user or password in the URL; set user: in the storage and the password in BACKUPBOT_SMB_PASSWORD or a password file", redact(u))
		}
		host = u.Host
		rest = u.Path
	case strings.HasPrefix(p, `\\`) || strings.HasPrefix(p, "//"):
		s := strings.ReplaceAll(p[2:], `\`, "/")
		host, rest, _ = strings.Cut(s, "/")
		rest = "/" + rest
	default:
		return Location{}, fmt.Errorf("%q is not an SMB location: write smb://host[:port]/share/path or \\\\host\\share\\path", p)
	}
	loc := Location{Port: defaultPort}
	if h, port, ok := strings.Cut(host, ":"); ok && !strings.Contains(port, ":") {
		n, err := strconv.Atoi(port)
		if err != nil || n <= 0 || n > 65535 {
			return Location{}, fmt.Errorf("SMB location %q: port %q is not a number from 1 to 65535", p, port)
		}
		host, loc.Port = h, n
	}
	loc.Host = strings.Trim(host, "[]")
	var parts []string
	for _, part := range strings.Split(rest, "/") {
		switch part {
		case "", ".":
			continue
		case "..":
			return Location{}, fmt.Errorf("SMB location %q: '..' is not allowed in the path", p)
		}
		parts = append(parts, part)
	}
	if loc.Host == "" {
		return Location{}, fmt.Errorf("SMB location %q names no server: write smb://host/share/path or \\\\host\\share\\path", p)
	}
	if len(parts) == 0 {
		return Location{}, fmt.Errorf("SMB location %q names no share: write smb://%s/share/path or \\\\%s\\share\\path", p, loc.Host, loc.Host)
	}
	loc.Share = parts[0]
	loc.Dir = strings.Join(parts[1:], "/")
	return loc, nil
}

func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}
