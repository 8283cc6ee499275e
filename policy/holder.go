package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/backupbot/backupbot/commands"
	"gopkg.in/yaml.v3"
)

// Holder is where the router, the approval store and other readers get
// the policy in force. In the service it reads the policy of the
// configuration snapshot in force (HolderFunc), which a reload swaps
// whole; elsewhere it holds one policy (NewHolder, Store). The zero
// Holder denies everything until a policy is stored.
type Holder struct {
	current atomic.Pointer[Policy]
	source  func() *Policy
}

// NewHolder returns a Holder with p in force (nil means Default()).
func NewHolder(p *Policy) *Holder {
	h := &Holder{}
	if p == nil {
		p = Default()
	}
	h.current.Store(p)
	return h
}

// HolderFunc returns a Holder that reads the policy in force from source
// at every use (the service's configuration snapshot).
func HolderFunc(source func() *Policy) *Holder { return &Holder{source: source} }

// Policy returns the policy in force. It never returns nil: before anything
// is loaded it returns a policy with no roles, which denies everything.
func (h *Holder) Policy() *Policy {
	if h.source != nil {
		if p := h.source(); p != nil {
			return p
		}
	} else if p := h.current.Load(); p != nil {
		return p
	}
	return &Policy{cfg: Config{}.WithDefaults(), holders: map[string][]string{}, unloaded: true}
}

// Store puts p in force (in a Holder made by NewHolder or the zero one).
func (h *Holder) Store(p *Policy) { h.current.Store(p) }

// Decide is Policy().Decide.
func (h *Holder) Decide(id Identity, channel string, cmd commands.Command) Decision {
	return h.Policy().Decide(id, channel, cmd)
}

// LoadFile reads and validates the `policy:` section of a configuration
// file, for tests and tools that want the policy alone. The service reads
// the policy with the rest of the file, once (config.LoadSnapshot).
func LoadFile(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: reading %s: %w", path, err)
	}
	p, err := Parse(data)
	if err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			ce.File = path
		}
		return nil, err
	}
	return p, nil
}

// Parse reads the `policy:` section of a whole configuration file's YAML.
// Other top-level keys are ignored here (the config package checks them);
// inside `policy:` unknown keys are errors. Errors are *ConfigError with
// the line when it is known.
func Parse(data []byte) (*Policy, error) {
	var doc struct {
		Policy *Config              `yaml:"policy"`
		Rest   map[string]yaml.Node `yaml:",inline"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(err)
	}
	cfg := Config{}
	if doc.Policy != nil {
		cfg = *doc.Policy
	}
	p, err := New(cfg)
	if err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) && doc.Policy != nil {
			var root yaml.Node
			if yaml.Unmarshal(data, &root) == nil {
				ce.Line = lineOf(&root, ce.Path)
			}
		}
		return nil, err
	}
	return p, nil
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// yamlError turns a yaml.v3 error into a *ConfigError with its first line.
func yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = strings.TrimPrefix(te.Errors[0], "yaml: ")
		if len(te.Errors) > 1 {
			msg += fmt.Sprintf(" (and %d more)", len(te.Errors)-1)
		}
	}
	ce := &ConfigError{Reason: msg}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		ce.Line, _ = strconv.Atoi(m[1])
		ce.Reason = strings.TrimSpace(strings.Replace(msg, m[0]+":", "", 1))
	}
	return ce
}

// lineOf finds the line of a value by its path ("policy.roles.op[2].flags.x"),
// or of the deepest part of the path that exists; 0 when nothing matches.
func lineOf(root *yaml.Node, path string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, part := range splitPath(path) {
		next := child(n, part)
		if next == nil {
			break
		}
		n = next
		line = n.Line
	}
	return line
}

func splitPath(path string) []string {
	var parts []string
	for _, seg := range strings.Split(path, ".") {
		name, rest, _ := strings.Cut(seg, "[")
		parts = append(parts, name)
		for rest != "" {
			idx, after, _ := strings.Cut(rest, "]")
			parts = append(parts, "["+idx+"]")
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return parts
}

func child(n *yaml.Node, part string) *yaml.Node {
	if strings.HasPrefix(part, "[") {
		i, err := strconv.Atoi(strings.Trim(part, "[]"))
		if err != nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
			return nil
		}
		return n.Content[i]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == part {
			// Point at the key for maps and sequences (where the reader
			// looks), at the value for scalars.
			if n.Content[i+1].Kind == yaml.ScalarNode {
				return n.Content[i+1]
			}
			v := *n.Content[i+1]
			if v.Line == 0 || v.Kind == yaml.MappingNode || v.Kind == yaml.SequenceNode {
				v.Line = n.Content[i].Line
			}
			return &v
		}
	}
	return nil
}
