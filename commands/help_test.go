package commands

import (
	"reflect"
	"strings"
	"testing"
)

func TestHelpListsEveryAction(t *testing.T) {
	text, err := HelpText("")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range Actions() {
		if !strings.Contains(text, "\n"+string(a)+" ") {
			t.Errorf("the action list does not show %s:\n%s", a, text)
		}
	}
	if !strings.Contains(text, "`/backup` alone or `/backup help`") {
		t.Error("the action list does not say how empty text is read")
	}
}

func TestEveryActionHasShortHelp(t *testing.T) {
	for _, a := range Actions() {
		text, err := HelpText(string(a))
		if err != nil {
			t.Fatalf("HelpText(%s): %v", a, err)
		}
		if lines := strings.Count(text, "\n") + 1; lines > 40 {
			t.Errorf("help %s is %d lines; a chat message wants under 40", a, lines)
		}
		if !strings.Contains(text, "Usage: `/backup "+string(a)) {
			t.Errorf("help %s has no usage line", a)
		}
		spec := actionTableByName[a]
		for _, f := range spec.flags(Parser{}, spec.newCommand()) {
			if !strings.Contains(text, "--"+f.name) {
				t.Errorf("help %s does not mention --%s", a, f.name)
			}
		}
		for _, ex := range spec.examples {
			if !strings.Contains(text, ex) {
				t.Errorf("help %s does not show example %q", a, ex)
			}
			// Every example in help must itself parse.
			if _, err := Parse(ex); err != nil {
				t.Errorf("help %s example %q does not parse: %v", a, ex, err)
			}
		}
	}
}

// TestHelpDefaultsMatchParser reads each "(default: X)" that help shows and
// checks that giving --flag X explicitly changes nothing: what help says
// is the default is what the parser does.
func TestHelpDefaultsMatchParser(t *testing.T) {
	minimal := map[Action]string{
		ActionRestore: "restore --name x", ActionVerify: "verify --all", ActionExport: "export --name x",
		ActionCopy: "copy --to s3", ActionStatus: "status j1", ActionCancel: "cancel j1",
	}
	shown := 0
	for _, a := range Actions() {
		text, _ := HelpText(string(a))
		base := minimal[a]
		if base == "" {
			base = string(a)
		}
		want, err := Parse(base)
		if err != nil {
			t.Fatalf("Parse(%q): %v", base, err)
		}
		for line := range strings.SplitSeq(text, "\n") {
			if !strings.HasPrefix(line, "--") {
				continue
			}
			i := strings.Index(line, "(default: ")
			if i < 0 {
				continue
			}
			def := strings.TrimSuffix(line[i+len("(default: "):], ")")
			flag := strings.Fields(line)[0]
			shown++
			got, err := Parse(base + " " + flag + "=" + Quote(def))
			if err != nil {
				t.Errorf("help %s says %s defaults to %q, but giving it fails: %v", a, flag, def, err)
				continue
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("help %s says %s defaults to %q, but giving it changes the command:\n got %#v\nwant %#v", a, flag, def, got, want)
			}
		}
	}
	// create --type/--target/--compress, restore --target, list --storage,
	// schedule --action, export --format, snapshot --resource.
	if shown < 8 {
		t.Fatalf("help shows only %d defaults; the reference's defaults are missing", shown)
	}
	create, _ := HelpText("create")
	for _, want := range []string{"(default: incremental)", "(default: all)", "(default: true)"} {
		if !strings.Contains(create, want) {
			t.Errorf("help create does not show %s, which the reference states", want)
		}
	}
}

func TestHelpUnknownTopic(t *testing.T) {
	_, err := HelpText("restroe")
	if e := asError(t, err); e.Suggestion != "restore" {
		t.Fatalf("HelpText(restroe) suggestion = %q (%v)", e.Suggestion, err)
	}
}

func TestHelpShowsConfiguredNames(t *testing.T) {
	text, err := Parser{Targets: []string{"web-root"}, Storages: []string{"offsite"}}.HelpText("create")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "web-root") || !strings.Contains(text, "offsite") {
		t.Fatalf("help does not list configured names:\n%s", text)
	}
}

// TestHelpListsTheConfiguredNames: a Parser built from a configuration
// lists that configuration's targets and storages, not the reference's
// fixed all, config, data, state, logs.
func TestHelpListsTheConfiguredNames(t *testing.T) {
	p := Parser{Targets: []string{"website", "mail"}, Storages: []string{"offsite", "nas"}}
	create, err := p.HelpText("create")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"what to back up: all, website, mail (default: all)", "where to store it: offsite, nas, or a kind: local, network, azure, aws, s3"} {
		if !strings.Contains(create, want) {
			t.Errorf("help create does not say %q:\n%s", want, create)
		}
	}
	if strings.Contains(create, "all, config, data, state, logs") {
		t.Errorf("help create lists the built-in targets although the configuration has others:\n%s", create)
	}
	list, _ := p.HelpText("list")
	if !strings.Contains(list, "offsite, nas, all, remote, or a kind") {
		t.Errorf("help list does not list the configured storages then all and remote:\n%s", list)
	}
	overview, _ := p.HelpText("")
	for _, want := range []string{"Targets here: all, website, mail.", "Storages here: offsite, nas"} {
		if !strings.Contains(overview, want) {
			t.Errorf("help does not say %q:\n%s", want, overview)
		}
	}
	// Without a configuration, help shows the reference's names.
	plain, _ := HelpText("create")
	if !strings.Contains(plain, "all, config, data, state, logs") {
		t.Errorf("help create without a configuration lost the built-in targets:\n%s", plain)
	}
}
