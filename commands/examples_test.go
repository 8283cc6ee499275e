package commands

import (
	"bufio"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// referenceExamples is every command in the code blocks of the command
// reference (testdata/backup-command.md, a copy of the shared spec), with
// the typed value it must parse to, field by field.
var referenceExamples = []struct {
	text string
	want Command
}{
	// create
	{"/backup create --type full --encrypt",
		&Create{Type: TypeFull, Target: "all", Compress: true, Encrypt: true}},
	{"/backup create --target config --name pre-deployment",
		&Create{Type: TypeIncremental, Target: "config", Name: "pre-deployment", Compress: true}},
	{"/backup create --type incremental --storage azure --retention 30",
		&Create{Type: TypeIncremental, Target: "all", Compress: true, Storage: StorageRef{Name: "azure"}, Retention: 30}},
	// restore
	{"/backup restore --name pre-deployment --preview",
		&Restore{Name: "pre-deployment", Target: "all", Preview: true}},
	{"/backup restore --date 2025-01-15 --target config",
		&Restore{Date: &Date{2025, time.January, 15}, Target: "config"}},
	{"/backup restore --name emergency --validate --force",
		&Restore{Name: "emergency", Target: "all", Validate: true, Force: true}},
	// list
	{"/backup list",
		&List{Storage: StorageRef{Name: "all"}}},
	{"/backup list --storage remote --age 7",
		&List{Storage: StorageRef{Name: "remote"}, Age: 7}},
	{"/backup list --type full --size --verify",
		&List{Storage: StorageRef{Name: "all"}, Type: TypeFull, Size: true, Verify: true}},
	// schedule
	{`/backup schedule --action create --name daily --cron "0 2 * * *" --type incremental`,
		&Schedule{Op: ScheduleCreate, Name: "daily", Cron: "0 2 * * *", Type: TypeIncremental, Target: "all"}},
	{"/backup schedule --action update --name weekly --retention 90",
		&Schedule{Op: ScheduleUpdate, Name: "weekly", Retention: 90}},
	{"/backup schedule --action list",
		&Schedule{Op: ScheduleList}},
	// verify
	{"/backup verify --name critical-backup --deep",
		&Verify{Name: "critical-backup", Deep: true}},
	{"/backup verify --all --report",
		&Verify{All: true, Report: true}},
	{"/backup verify --name production-2025-01 --fix",
		&Verify{Name: "production-2025-01", Fix: true}},
	// cleanup
	{"/backup cleanup --older-than 90 --keep-min 3 --dry-run",
		&Cleanup{OlderThan: 90, KeepMin: 3, DryRun: true}},
	{"/backup cleanup --type incremental --older-than 30",
		&Cleanup{Type: TypeIncremental, OlderThan: 30}},
	{"/backup cleanup --force",
		&Cleanup{Force: true}},
	// export
	{"/backup export --name production-full --format zip --destination /mnt/external",
		&Export{Name: "production-full", Format: FormatZip, Destination: "/mnt/external"}},
	{"/backup export --name critical --split 4GB --checksum",
		&Export{Name: "critical", Format: FormatTar, Split: 4_000_000_000, Checksum: true}},
	// snapshot
	{"/backup snapshot --resource vm --name pre-update --consistent",
		&Snapshot{Resource: ResourceVM, Name: "pre-update", Consistent: true}},
	{`/backup snapshot --resource database --tags "purpose=compliance"`,
		&Snapshot{Resource: ResourceDatabase, Tags: []Tag{{"purpose", "compliance"}}}},
	{"/backup snapshot --resource all --expire 24",
		&Snapshot{Resource: ResourceAll, Expire: 24}},
	// Storage Backends
	{`/backup create --storage local --path "D:/Backups/AitherZero"`,
		&Create{Type: TypeIncremental, Target: "all", Compress: true, Storage: StorageRef{Name: "local", Path: "D:/Backups/AitherZero"}}},
	{`/backup create --storage azure --container "aither-backups" --encrypt`,
		&Create{Type: TypeIncremental, Target: "all", Compress: true, Encrypt: true, Storage: StorageRef{Name: "azure", Container: "aither-backups"}}},
	{`/backup create --storage s3 --bucket "company-backups" --region "us-east-1"`,
		&Create{Type: TypeIncremental, Target: "all", Compress: true, Storage: StorageRef{Name: "s3", Bucket: "company-backups", Region: "us-east-1"}}},
	{`/backup create --storage network --path "\\\\nas\\backups\\aitherzero"`,
		&Create{Type: TypeIncremental, Target: "all", Compress: true, Storage: StorageRef{Name: "network", Path: `\\nas\backups\aitherzero`}}},
	// Recovery Procedures
	{"/backup list --age 7",
		&List{Storage: StorageRef{Name: "all"}, Age: 7}},
	{"/backup restore --name latest --preview",
		&Restore{Name: "latest", Target: "all", Preview: true}},
	{"/backup restore --name latest --target config",
		&Restore{Name: "latest", Target: "config"}},
	{"/backup restore --name dr-backup --type full --validate",
		&Restore{Name: "dr-backup", Type: TypeFull, Target: "all", Validate: true}},
	{"/backup restore --name dr-backup --target config",
		&Restore{Name: "dr-backup", Target: "config"}},
	{"/backup restore --name dr-backup --target data",
		&Restore{Name: "dr-backup", Target: "data"}},
	{"/backup restore --name dr-backup --target state",
		&Restore{Name: "dr-backup", Target: "state"}},
	{`/backup restore --name production --target config --filter "modules/LabRunner"`,
		&Restore{Name: "production", Target: "config", Filter: "modules/LabRunner"}},
	{`/backup restore --date 2025-01-15 --time "14:30:00"`,
		&Restore{Date: &Date{2025, time.January, 15}, Time: &Clock{14, 30, 0}, Target: "all"}},
	// Debug Commands
	{"/backup create --type full --verbose --debug",
		&Create{Diagnostics: Diagnostics{Verbose: true, Debug: true}, Type: TypeFull, Target: "all", Compress: true}},
	{"/backup test --storage azure --debug",
		&Test{Diagnostics: Diagnostics{Debug: true}, Storage: StorageRef{Name: "azure"}}},
	{"/backup analyze --name slow-backup --performance",
		&Analyze{Name: "slow-backup", Performance: true}},
}

func TestReferenceExamplesParse(t *testing.T) {
	for _, tc := range referenceExamples {
		t.Run(tc.text, func(t *testing.T) { checkParse(t, tc.text, tc.want) })
	}
}

// TestReferenceExamplesAreAllCovered reads every code block of the
// reference and checks each /backup line in it is in the table above, so a
// new example in the reference cannot go untested. The "Usage" synopsis
// (/backup [action] [options]) is a pattern, not a command.
func TestReferenceExamplesAreAllCovered(t *testing.T) {
	f, err := os.Open("testdata/backup-command.md")
	if err != nil {
		t.Fatalf("open the reference copy: %v", err)
	}
	defer f.Close()
	known := map[string]bool{}
	for _, tc := range referenceExamples {
		known[tc.text] = true
	}
	inBlock, found := false, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "```") {
			inBlock = !inBlock
			continue
		}
		if !inBlock || !strings.HasPrefix(line, "/backup") || line == "/backup [action] [options]" {
			continue
		}
		found++
		if !known[line] {
			t.Errorf("reference example %q has no entry in referenceExamples", line)
		}
	}
	if found < 35 {
		t.Fatalf("found only %d examples in the reference; is testdata/backup-command.md complete?", found)
	}
}

func TestReferenceExampleWithCommentLinesIsHelp(t *testing.T) {
	// A code block line that is only a comment is empty text: help.
	got, err := Parse("# List recent backups")
	if err != nil || !reflect.DeepEqual(got, &Help{}) {
		t.Fatalf("Parse(comment) = %#v, %v; want the action list", got, err)
	}
}
