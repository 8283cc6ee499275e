package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/policy"
	"github.com/backupbot/backupbot/storage"
)

// EnvConfig names the environment variable that points at the
// configuration file when --config is not given.
const EnvConfig = "BACKUPBOT_CONFIG"

// DefaultPath is the file used when neither --config nor $BACKUPBOT_CONFIG
// names one and it exists.
const DefaultPath = "backupbot.yaml"

//go:embed defaults.yaml
var defaultsYAML []byte

// Defaults returns the embedded configuration: a local repository under
// ./var/repo and one target, data, for ./var/data.
func Defaults() *File {
	f, err := parse(defaultsYAML, "(embedded defaults)")
	if err != nil {
		// The embedded file is part of the binary and covered by tests.
		panic(fmt.Sprintf("config: embedded defaults are invalid: %v", err))
	}
	return f
}

// Resolve finds and loads the configuration: flagPath when not empty, else
// $BACKUPBOT_CONFIG when set, else ./backupbot.yaml when it exists, else the
// embedded defaults. It returns the path it loaded ("" for the defaults).
func Resolve(flagPath string) (*File, string, error) {
	path, err := resolvePath(flagPath)
	if err != nil {
		return nil, "", err
	}
	if path == "" {
		return Defaults(), "", nil
	}
	f, err := Load(path)
	if err != nil {
		return nil, path, err
	}
	return f, path, nil
}

// resolvePath is the file Resolve loads ("" for the embedded defaults).
func resolvePath(flagPath string) (string, error) {
	path := flagPath
	if path == "" {
		path = os.Getenv(EnvConfig)
	}
	if path == "" {
		if _, err := os.Stat(DefaultPath); err == nil {
			path = DefaultPath
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("config: cannot look for %s: %w", DefaultPath, err)
		}
	}
	return path, nil
}

// Load reads and checks one configuration file. Unknown keys are errors
// that name the key and its line. A file without a storages (or targets)
// section gets the embedded default ones, so a file may hold only, say, the
// policy. Relative paths in it are relative to the working directory.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: cannot read %s: %w", path, err)
	}
	return parse(data, path)
}

// parse decodes and validates data that came from name.
func parse(data []byte, name string) (*File, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("config %s: not valid YAML: %s", name, oneLine(err))
	}
	f := &File{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(f); err != nil && !errors.Is(err, io.EOF) {
		return nil, decodeError(name, &root, err)
	}
	if f.Storages == nil || f.Targets == nil {
		var d File
		if err := yaml.Unmarshal(defaultsYAML, &d); err != nil {
			return nil, fmt.Errorf("config: embedded defaults: %w", err)
		}
		if f.Storages == nil {
			f.Storages = d.Storages
		}
		if f.Targets == nil {
			f.Targets = d.Targets
		}
	}
	if err := f.validate(); err != nil {
		var le *locatedError
		if errors.As(err, &le) {
			if line := lineOf(&root, le.path...); line > 0 {
				return nil, fmt.Errorf("config %s: line %d: %s: %s", name, line, le.key(), le.reason)
			}
			return nil, fmt.Errorf("config %s: %s: %s", name, le.key(), le.reason)
		}
		var pe *policy.ConfigError
		if errors.As(err, &pe) {
			located := *pe
			located.File = name
			if located.Line == 0 {
				located.Line = lineOf(&root, splitPath(pe.Path)...)
			}
			return nil, &located
		}
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	return f, nil
}

// Parser returns the command parser that knows the configured target and
// storage names.
func (f *File) Parser() commands.Parser {
	return commands.Parser{Targets: f.TargetNames(), Storages: slices.Sorted(maps.Keys(f.Storages)), MissingExportFormats: missingExportFormats()}
}

// DatabaseTargetPrefix starts the target name of a database's snapshots:
// database-NAME, valid wherever --target is.
const DatabaseTargetPrefix = "database-"

// TargetNames are the names --target accepts: the configured targets and
// each configured database's database-NAME, sorted.
func (f *File) TargetNames() []string {
	names := slices.Sorted(maps.Keys(f.Targets))
	for _, db := range slices.Sorted(maps.Keys(f.Databases)) {
		names = append(names, DatabaseTargetPrefix+db)
	}
	slices.Sort(names)
	return names
}

// StorageKinds are the storage types a configuration may name.
var StorageKinds = []string{storage.KindLocal, storage.KindNetwork, storage.KindS3, storage.KindAWS, storage.KindAzure}

// namePattern is what storage and target names may look like: they are
// typed after --storage and --target.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// locatedError is a validation error at a path of keys in the file.
type locatedError struct {
	path   []string
	reason string
}

func (e *locatedError) Error() string { return e.key() + ": " + e.reason }

// key is the dotted path, list indexes as "copies[1]".
func (e *locatedError) key() string { return strings.ReplaceAll(strings.Join(e.path, "."), ".[", "[") }

func at(reason string, path ...string) error { return &locatedError{path: path, reason: reason} }

// validate checks the storages and targets, then every section that has a
// Validate() error method of its own (policy, and what others add).
func (f *File) validate() error {
	if len(f.Storages) == 0 {
		return at("configure at least one storage", "storages")
	}
	for _, name := range slices.Sorted(maps.Keys(f.Storages)) {
		s := f.Storages[name]
		if err := checkName(name, "storages", []string{"all", "remote"}); err != nil {
			return err
		}
		switch {
		case !slices.Contains(StorageKinds, s.Type):
			return at(fmt.Sprintf("type %s is not a storage kind; use %s", strconv.Quote(s.Type), strings.Join(StorageKinds, ", ")), "storages", name, "type")
		case (s.Type == storage.KindLocal || s.Type == storage.KindNetwork) && strings.TrimSpace(s.Path) == "":
			return at(fmt.Sprintf("a %s storage needs a path (the repository directory)", s.Type), "storages", name)
		case (s.Type == storage.KindS3 || s.Type == storage.KindAWS) && strings.TrimSpace(s.Bucket) == "":
			return at("an s3 storage needs a bucket", "storages", name)
		case s.Type == storage.KindAzure && strings.TrimSpace(s.Container) == "":
			return at("an azure storage needs a container", "storages", name)
		case s.Encryption != "" && s.Encryption != storage.EncryptionAES && s.Encryption != storage.EncryptionNone:
			return at(fmt.Sprintf("encryption %s is not known; use %s (the default) or %s (an unencrypted repository)",
				strconv.Quote(s.Encryption), storage.EncryptionAES, storage.EncryptionNone), "storages", name, "encryption")
		}
		if err := checkStoragePath(name, s); err != nil {
			return err
		}
		if _, err := SizeLimit(s); err != nil {
			return at(err.Error(), "storages", name, "size_limit")
		}
		if s.Retention != nil {
			if err := policyError(s.Retention.Validate(), "storages", name, "retention"); err != nil {
				return err
			}
		}
	}
	if len(f.Targets) == 0 {
		return at("configure at least one target", "targets")
	}
	for _, name := range slices.Sorted(maps.Keys(f.Targets)) {
		t := f.Targets[name]
		if err := checkName(name, "targets", []string{"all"}); err != nil {
			return err
		}
		if len(t.Paths) == 0 {
			return at("a target needs at least one path", "targets", name)
		}
		for i, p := range t.Paths {
			if strings.TrimSpace(p) == "" {
				return at(fmt.Sprintf("path %d is empty", i+1), "targets", name, "paths")
			}
		}
		if t.Retention != nil {
			if err := policyError(t.Retention.Validate(), "targets", name, "retention"); err != nil {
				return err
			}
		}
		if err := f.checkCopies(t.Copies, "targets", name, "copies"); err != nil {
			return err
		}
	}
	return validateSections(f)
}

// checkName rejects names that cannot be typed after --storage/--target
// or that mean something else there.
func checkName(name, section string, reserved []string) error {
	if slices.Contains(reserved, name) {
		return at(fmt.Sprintf("%s is a reserved word there; pick another name", strconv.Quote(name)), section, name)
	}
	if !namePattern.MatchString(name) {
		return at("names are 1-63 letters, digits, _ . -, starting with a letter or digit", section, name)
	}
	return nil
}

// validator is a configuration section that checks itself.
type validator interface{ Validate() error }

// validateSections calls Validate on every field of File that has one, so
// a section added to File is checked without changing this file.
func validateSections(f *File) error {
	v := reflect.ValueOf(f).Elem()
	for i := range v.NumField() {
		field := v.Field(i)
		if !field.CanAddr() || !field.Addr().CanInterface() {
			continue
		}
		var val validator
		if x, ok := field.Addr().Interface().(validator); ok {
			val = x
		}
		if val == nil {
			continue
		}
		if err := val.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// decodeError rewords yaml's errors: unknown keys name the key with its
// full path and line.
func decodeError(name string, root *yaml.Node, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("config %s: %s", name, oneLine(err))
	}
	unknown := regexp.MustCompile(`^line (\d+): field (.+) not found in type`)
	msgs := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		if m := unknown.FindStringSubmatch(e); m != nil {
			line, _ := strconv.Atoi(m[1])
			key := m[2]
			if path := pathOfKey(root, key, line); path != "" {
				key = path
			}
			msgs = append(msgs, fmt.Sprintf("line %d: unknown key %s", line, strconv.Quote(key)))
			continue
		}
		msgs = append(msgs, e)
	}
	return fmt.Errorf("config %s: %s", name, strings.Join(msgs, "; "))
}

// pathOfKey finds the mapping key called key on line and returns its
// dotted path ("storages.local.bukcet"), or "".
func pathOfKey(n *yaml.Node, key string, line int) string {
	var walk func(n *yaml.Node, prefix []string) string
	walk = func(n *yaml.Node, prefix []string) string {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				if p := walk(c, prefix); p != "" {
					return p
				}
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				if p := walk(c, append(slices.Clone(prefix), fmt.Sprintf("[%d]", i))); p != "" {
					return p
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				path := append(slices.Clone(prefix), k.Value)
				if k.Value == key && k.Line == line {
					return strings.ReplaceAll(strings.Join(path, "."), ".[", "[")
				}
				if p := walk(v, path); p != "" {
					return p
				}
			}
		}
		return ""
	}
	return walk(n, nil)
}

// lineOf returns the line of the value at path (mapping keys, and "[i]"
// for sequence items), or of the deepest part of it that exists, or 0.
func lineOf(n *yaml.Node, path ...string) int {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, key := range path {
		var next *yaml.Node
		switch {
		case n.Kind == yaml.SequenceNode && strings.HasPrefix(key, "["):
			i, err := strconv.Atoi(strings.Trim(key, "[]"))
			if err == nil && i >= 0 && i < len(n.Content) {
				next = n.Content[i]
				line = next.Line
			}
		case n.Kind == yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == key {
					line, next = n.Content[i].Line, n.Content[i+1]
					break
				}
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}

// splitPath turns "policy.roles.x[0].actions" into its keys and indexes.
func splitPath(p string) []string {
	var out []string
	for part := range strings.SplitSeq(p, ".") {
		for part != "" {
			i := strings.Index(part, "[")
			switch {
			case i < 0:
				out, part = append(out, part), ""
			case i > 0:
				out, part = append(out, part[:i]), part[i:]
			default:
				j := strings.Index(part, "]")
				if j < 0 {
					return append(out, part)
				}
				out, part = append(out, part[:j+1]), part[j+1:]
			}
		}
	}
	return out
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "yaml: ", "")), " ")
}
