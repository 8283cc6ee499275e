package commands

import (
	"fmt"
	"slices"
)

// actionSpec defines one action: the one table that parsing, validation,
// rendering and help all read.
type actionSpec struct {
	action   Action
	summary  string
	notes    []string // rules shown in help, one line each
	examples []string // from the command reference
	// newCommand returns the command with its defaults.
	newCommand func() Command
	// flags binds the action's options to the fields of c.
	flags func(p Parser, c Command) []flagSpec
	// arg, when set, binds the action's one positional word.
	arg func(c Command) *positionalSpec
	// check applies the rules between options; it may fill in defaults
	// that depend on other options. It returns an *Error.
	check func(c Command) error
}

// positionalSpec is an action's one positional word (status JOB).
type positionalSpec struct {
	name     string // placeholder for help
	what     string // what it is, for errors ("job id")
	required bool
	value    flagValue
}

// Built-in names, from the command reference.
var (
	builtinTargets     = []string{"all", "config", "data", "state", "logs"}
	builtinStorages    = []string{"local", "network", "azure", "aws", "s3"}
	listOnlyStorages   = []string{"all", "remote"}
	backupTypes        = []BackupType{TypeFull, TypeIncremental, TypeDifferential}
	scheduleOps        = []ScheduleOp{ScheduleCreate, ScheduleUpdate, ScheduleDelete, ScheduleList}
	scheduleKinds      = []ScheduleKind{ScheduleBackup, ScheduleVerify, ScheduleVerifyDeep, ScheduleCleanup, ScheduleRestoreTest}
	exportFormats      = []ExportFormat{FormatTar, FormatZip, Format7z}
	splittableFormats  = []ExportFormat{FormatTar, Format7z}
	snapshotResources  = []Resource{ResourceVM, ResourceDatabase, ResourceStorage, ResourceAll}
	analyzeReports     = []AnalyzeReport{ReportCompliance}
	actionTable        = buildActionTable()
	actionTableByName  = indexActions(actionTable)
	defaultCreateType  = TypeIncremental
	defaultTarget      = "all"
	defaultListStorage = "all"
)

func indexActions(specs []*actionSpec) map[Action]*actionSpec {
	m := make(map[Action]*actionSpec, len(specs))
	for _, s := range specs {
		m[s.action] = s
	}
	return m
}

// Actions lists every action in the order help shows them.
func Actions() []Action {
	out := make([]Action, len(actionTable))
	for i, s := range actionTable {
		out[i] = s.action
	}
	return out
}

func actionNames() []string {
	out := make([]string, len(actionTable))
	for i, s := range actionTable {
		out[i] = string(s.action)
	}
	return out
}

// Flag constructors, so the table below reads as a list of options.

func boolFlag(name string, p *bool, usage string) flagSpec {
	return flagSpec{name: name, usage: usage, value: boolValue{p}}
}

func textFlag(name, arg string, p *string, limit int, usage string) flagSpec {
	return flagSpec{name: name, arg: arg, usage: usage, value: textValue{p, limit}}
}

func typeFlag(p *BackupType, usage string) flagSpec {
	return flagSpec{name: "type", arg: "TYPE", usage: usage, value: enumValue[BackupType]{p, backupTypes}, fact: FactType}
}

func daysFlag(name string, p *Days, usage string) flagSpec {
	return flagSpec{name: name, arg: "DAYS", usage: usage, value: wholeValue[Days]{p, maxDays, "days", "d"}}
}

func tagsFlag(p *[]Tag, usage string) flagSpec {
	return flagSpec{name: "tags", arg: "K=V,...", usage: usage, value: tagsValue{p}}
}

func (p Parser) targetFlag(t *string, usage string) flagSpec {
	return flagSpec{name: "target", arg: "NAME", usage: usage, value: nameChoice{t, p.targetNames(), "target", p.helpTargets()}, fact: FactTarget}
}

// storageFlags are --storage and the location overrides for one command.
func (p Parser) storageFlags(ref *StorageRef, forList bool, usage string) []flagSpec {
	return []flagSpec{
		{name: "storage", arg: "NAME", usage: usage, value: nameChoice{&ref.Name, p.storageNames(forList), "storage", p.helpStorages(forList)}, fact: FactStorage},
		{name: "path", arg: "DIR", group: groupLocation, usage: "repository directory (local, network)", value: textValue{&ref.Path, maxPath}, fact: FactPath},
		{name: "container", arg: "NAME", group: groupLocation, usage: "Azure container", value: patternValue{&ref.Container, containerPattern, containerRule}, fact: FactLocation},
		{name: "bucket", arg: "NAME", group: groupLocation, usage: "S3 bucket", value: patternValue{&ref.Bucket, bucketPattern, bucketRule}, fact: FactLocation},
		{name: "region", arg: "NAME", group: groupLocation, usage: "S3 region", value: patternValue{&ref.Region, regionPattern, regionRule}, fact: FactLocation},
	}
}

func diagnosticsFlags(d *Diagnostics) []flagSpec {
	return []flagSpec{
		{name: "verbose", group: groupDiagnostics, usage: "report each step", value: boolValue{&d.Verbose}, fact: FactSwitch},
		{name: "debug", group: groupDiagnostics, usage: "add diagnostics (timings, storage calls)", value: boolValue{&d.Debug}, fact: FactSwitch},
	}
}

func buildActionTable() []*actionSpec {
	return []*actionSpec{
		{
			action:  ActionCreate,
			summary: "Create a backup (the default action)",
			notes: []string{
				"A command that starts with an option is a create: `/backup --type full`.",
				"--storage is a configured storage or a kind (local, network, azure, aws, s3); without it the default storage is used.",
			},
			examples: []string{
				"/backup create --type full --encrypt",
				"/backup create --target config --name pre-deployment",
				"/backup create --type incremental --storage azure --retention 30",
				`/backup create --storage s3 --bucket "company-backups" --region "us-east-1"`,
			},
			newCommand: func() Command {
				return &Create{Type: defaultCreateType, Target: defaultTarget, Compress: true}
			},
			flags: func(p Parser, c Command) []flagSpec {
				x := c.(*Create)
				return slices.Concat([]flagSpec{
					typeFlag(&x.Type, "backup type"),
					p.targetFlag(&x.Target, "what to back up"),
					textFlag("name", "TEXT", &x.Name, maxName, "custom backup identifier").as(FactNone),
					boolFlag("compress", &x.Compress, "compress the data (--compress=false to turn off)").as(FactSwitch),
					boolFlag("encrypt", &x.Encrypt, "encrypt the data").as(FactSwitch),
					daysFlag("retention", &x.Retention, "delete the backup after this many days").as(FactNone),
					tagsFlag(&x.Tags, "label the backup; repeatable").as(FactNone),
				}, p.storageFlags(&x.Storage, false, "where to store it"), diagnosticsFlags(&x.Diagnostics))
			},
			check: func(c Command) error { return checkStorage(c.(*Create).Storage) },
		},
		{
			action:  ActionRestore,
			summary: "Restore from a backup, or preview doing so",
			notes: []string{
				"Needs --name or --date (or both); --time needs --date.",
				"`--name latest` is the newest backup.",
			},
			examples: []string{
				"/backup restore --name pre-deployment --preview",
				"/backup restore --date 2025-01-15 --target config",
				"/backup restore --name emergency --validate --force",
				`/backup restore --name production --target config --filter "modules/LabRunner"`,
				`/backup restore --date 2025-01-15 --time "14:30:00"`,
			},
			newCommand: func() Command { return &Restore{Target: defaultTarget} },
			flags: func(p Parser, c Command) []flagSpec {
				x := c.(*Restore)
				return slices.Concat([]flagSpec{
					textFlag("name", "TEXT", &x.Name, maxName, "backup to restore").as(FactNone),
					{name: "date", arg: "YYYY-MM-DD", usage: "restore the last backup of this day", value: parsedValue[*Date]{&x.Date, optional(ParseDate)}, fact: FactNone},
					{name: "time", arg: "HH:MM[:SS]", usage: "with --date: the last backup at or before this time", value: parsedValue[*Clock]{&x.Time, optional(ParseClock)}, fact: FactNone},
					typeFlag(&x.Type, "only backups of this type"),
					p.targetFlag(&x.Target, "what to restore"),
					textFlag("filter", "PATH", &x.Filter, maxPath, "restore only paths under this one").as(FactNone),
					textFlag("to", "DIR", &x.To, maxPath, "restore into this directory instead of in place").as(FactPath),
					boolFlag("preview", &x.Preview, "show what would change, change nothing").as(FactSwitch),
					boolFlag("validate", &x.Validate, "check the backup's integrity first").as(FactSwitch),
					boolFlag("force", &x.Force, "skip the confirmation").as(FactSwitch),
				}, p.storageFlags(&x.Storage, false, "where the backup is"), diagnosticsFlags(&x.Diagnostics))
			},
			check: func(c Command) error {
				x := c.(*Restore)
				if x.Name == "" && x.Date == nil {
					return &Error{Message: "restore needs --name or --date", Hint: "E.g. `/backup restore --name latest --preview`."}
				}
				if x.Time != nil && x.Date == nil {
					return &Error{Flag: "time", Message: "--time needs --date", Hint: "E.g. `--date 2025-01-15 --time 14:30`."}
				}
				return checkStorage(x.Storage)
			},
		},
		{
			action:  ActionList,
			summary: "List backups (or, with --running, jobs in flight)",
			notes:   []string{"--storage also takes all and remote (every off-machine storage)."},
			examples: []string{
				"/backup list",
				"/backup list --storage remote --age 7",
				"/backup list --type full --size --verify",
			},
			newCommand: func() Command { return &List{Storage: StorageRef{Name: defaultListStorage}} },
			flags: func(p Parser, c Command) []flagSpec {
				x := c.(*List)
				return slices.Concat([]flagSpec{
					p.storageFlags(&x.Storage, true, "which storages to look in")[0],
					daysFlag("age", &x.Age, "only backups newer than this many days").as(FactNone),
					typeFlag(&x.Type, "only backups of this type"),
					p.targetFlag(&x.Target, "only backups of this target"),
					textFlag("name", "TEXT", &x.Name, maxName, "only backups with this name").as(FactNone),
					boolFlag("size", &x.Size, "include sizes").as(FactSwitch),
					boolFlag("verify", &x.Verify, "check each backup's integrity").as(FactSwitch),
					boolFlag("running", &x.Running, "list running and queued jobs instead").as(FactSwitch),
				}, p.storageFlags(&x.Storage, true, "")[1:], diagnosticsFlags(&x.Diagnostics))
			},
			check: func(c Command) error { return checkStorage(c.(*List).Storage) },
		},
		{
			action:  ActionSchedule,
			summary: "Manage backup schedules",
			notes: []string{
				"--action defaults to list. create needs --name and --cron (type defaults to incremental, target to all);",
				"update needs --name and something to change; delete needs --name.",
				`--cron takes five fields ("0 2 * * *") or @daily, @weekly, "@every 6h".`,
				"--kind says what it runs: a backup (default), verify, verify-deep, cleanup (the retention policies),",
				"or restore-test (a recovery drill of each target's newest backup; `--type restore-test` says the same).",
			},
			examples: []string{
				`/backup schedule --action create --name daily --cron "0 2 * * *" --type incremental`,
				"/backup schedule --action update --name weekly --retention 90",
				`/backup schedule --action create --name drill --cron "@weekly" --type restore-test`,
				"/backup schedule --action list",
			},
			newCommand: func() Command { return &Schedule{Op: ScheduleList} },
			flags: func(p Parser, c Command) []flagSpec {
				x := c.(*Schedule)
				return slices.Concat([]flagSpec{
					{name: "action", arg: "OP", usage: "what to do with schedules", value: enumValue[ScheduleOp]{&x.Op, scheduleOps}, fact: FactNone},
					textFlag("name", "TEXT", &x.Name, maxName, "schedule identifier").as(FactNone),
					{name: "cron", arg: "EXPR", usage: "when it runs", value: cronValue{&x.Cron}, fact: FactNone},
					{name: "kind", arg: "KIND", usage: "what it runs: backup (default), verify, verify-deep, cleanup by the retention policies, or restore-test (a recovery drill)", value: enumValue[ScheduleKind]{&x.Kind, scheduleKinds}, fact: FactNone},
					{name: "type", arg: "TYPE", usage: "backup type it makes, or restore-test for a recovery drill", value: scheduleTypeValue{&x.Type, &x.Kind}, fact: FactType},
					p.targetFlag(&x.Target, "what it backs up"),
					daysFlag("retention", &x.Retention, "delete its backups after this many days").as(FactNone),
				}, p.storageFlags(&x.Storage, false, "where it stores backups"), diagnosticsFlags(&x.Diagnostics))
			},
			check: checkSchedule,
		},
		{
			action:  ActionVerify,
			summary: "Verify backup integrity",
			notes: []string{
				"Needs --name or --all, not both.",
				"--restore-test is a recovery drill: it restores the backup (with --all, the newest backup of each target)",
				"to a scratch directory on the worker, removed after, checks every byte against the stored hashes and against",
				"the source where it is unchanged, and reports the restore time per GiB (measured RTO). --sample 5% restores",
				"that share of the files, chosen at random; without it the whole backup. A failed drill opens an incident.",
			},
			examples: []string{
				"/backup verify --name critical-backup --deep",
				"/backup verify --all --report",
				"/backup verify --name production-2025-01 --fix",
				"/backup verify --restore-test --all --sample 5%",
			},
			newCommand: func() Command { return &Verify{} },
			flags: func(p Parser, c Command) []flagSpec {
				x := c.(*Verify)
				return slices.Concat([]flagSpec{
					textFlag("name", "TEXT", &x.Name, maxName, "backup to verify").as(FactNone),
					boolFlag("all", &x.All, "verify every backup").as(FactSwitch),
					boolFlag("deep", &x.Deep, "read and check every byte, not just the index").as(FactSwitch),
					boolFlag("fix", &x.Fix, "try to repair what is damaged").as(FactSwitch),
					boolFlag("report", &x.Report, "attach a verification report").as(FactSwitch),
					boolFlag("restore-test", &x.RestoreTest, "recovery drill: restore to a scratch directory and compare").as(FactSwitch),
					{name: "sample", arg: "PERCENT", usage: "with --restore-test: restore this share of the files (5%)", value: percentValue{&x.Sample}, fact: FactNone},
				}, p.storageFlags(&x.Storage, false, "where the backups are"), diagnosticsFlags(&x.Diagnostics))
			},
			check: func(c Command) error {
				x := c.(*Verify)
				switch {
				case x.Name != "" && x.All:
					return &Error{Flag: "all", Message: "--name and --all contradict each other", Hint: "Give one backup with --name, or --all."}
				case x.Name == "" && !x.All:
					return &Error{Message: "verify needs --name or --all", Hint: "E.g. `/backup verify --all --report`."}
				case x.Sample > 0 && !x.RestoreTest:
					return &Error{Flag: "sample", Message: "--sample needs --restore-test", Hint: "E.g. `/backup verify --restore-test --all --sample 5%`."}
				case x.RestoreTest && (x.Deep || x.Fix):
					flag := "deep"
					if x.Fix {
						flag = "fix"
					}
					return &Error{Flag: flag, Message: fmt.Sprintf("--%s does not go with --restore-test", flag), Hint: "A drill reads every byte it restores; run verify --deep or --fix on its own."}
				}
				return checkStorage(x.Storage)
			},
		},
		{
			action:  ActionCleanup,
			summary: "Remove old backups",
			notes: []string{
				"With neither --older-than nor --keep-min, each backup's own retention applies",
				"(create/schedule --retention); backups without one are kept.",
			},
			examples: []string{
				"/backup cleanup --older-than 90 --keep-min 3 --dry-run",
				"/backup cleanup --type incremental --older-than 30",
				"/backup cleanup --force",
			},
			newCommand: func() Command { return &Cleanup{} },
			flags: func(p Parser, c Command) []flagSpec {
				x := c.(*Cleanup)
				return slices.Concat([]flagSpec{
					daysFlag("older-than", &x.OlderThan, "remove backups older than this many days").as(FactNone),
					{name: "keep-min", arg: "COUNT", usage: "always keep at least this many backups", value: wholeValue[int]{&x.KeepMin, maxCount, "", ""}, fact: FactNone},
					typeFlag(&x.Type, "only backups of this type"),
					p.targetFlag(&x.Target, "only backups of this target"),
					boolFlag("dry-run", &x.DryRun, "show what would be removed, remove nothing").as(FactSwitch),
					boolFlag("force", &x.Force, "skip the confirmation").as(FactSwitch),
				}, p.storageFlags(&x.Storage, false, "where to clean up"), diagnosticsFlags(&x.Diagnostics))
			},
			check: func(c Command) error { return checkStorage(c.(*Cleanup).Storage) },
		},
		{
			action:  ActionExport,
			summary: "Export a backup as an archive",
			notes: []string{
				"Needs --name. --split works with tar and 7z (zip cannot be split); parts are NAME.part001, NAME.part002, ... and rejoin with cat.",
				"7z archives are written by the 7z program (Debian p7zip-full or 7zip); without it --format 7z is refused. tar and zip need nothing.",
				"An archive of the same name at the destination is replaced only with --force. The same backup always gives the same bytes.",
				"Sizes: KB, MB, GB, TB (also bare K, M, G, T) are powers of 1000; KiB, MiB, GiB, TiB powers of 1024.",
			},
			examples: []string{
				"/backup export --name production-full --format zip --destination /mnt/external",
				"/backup export --name critical --split 4GB --checksum",
				"/backup export --name critical --format 7z --destination offsite:exports/",
			},
			newCommand: func() Command { return &Export{Format: FormatTar} },
			flags: func(p Parser, c Command) []flagSpec {
				x := c.(*Export)
				return slices.Concat([]flagSpec{
					textFlag("name", "TEXT", &x.Name, maxName, "backup to export").as(FactNone),
					{name: "format", arg: "FORMAT", usage: "archive format", value: exportFormatValue{enumValue[ExportFormat]{&x.Format, exportFormats}, p.MissingExportFormats}, fact: FactNone},
					textFlag("destination", "PATH", &x.Destination, maxPath, "a directory, or a configured storage as NAME:prefix/").as(FactPath),
					{name: "split", arg: "SIZE", usage: "split into parts of this size (4GB, 500MiB)", value: parsedValue[Size]{&x.Split, ParseSize}, fact: FactNone},
					boolFlag("checksum", &x.Checksum, "write SHA-256 checksums next to it").as(FactSwitch),
					boolFlag("force", &x.Force, "replace an archive of the same name at the destination").as(FactSwitch),
				}, p.storageFlags(&x.Storage, false, "where the backup is"), diagnosticsFlags(&x.Diagnostics))
			},
			check: func(c Command) error {
				x := c.(*Export)
				if x.Name == "" {
					return &Error{Message: "export needs --name", Hint: "E.g. `/backup export --name critical --format zip`."}
				}
				if x.Split > 0 && !slices.Contains(splittableFormats, x.Format) {
					return &Error{Flag: "split", Message: fmt.Sprintf("--split does not work with --format %s", x.Format), Hint: "Use --format tar or 7z to split."}
				}
				return checkStorage(x.Storage)
			},
		},
		{
			action:  ActionCopy,
			summary: "Copy a backup to another storage",
			notes: []string{
				"Needs --to. Without --name the latest backup (of --target, if given) is copied.",
				"Only the data the destination lacks travels, encrypted with the destination's key; copying the same backup again does nothing.",
				"A target with `copies:` in the configuration is copied after each backup without asking.",
			},
			examples: []string{
				"/backup copy --name production-full --to s3",
				"/backup copy --target data --storage local --to azure",
			},
			newCommand: func() Command { return &Copy{} },
			flags: func(p Parser, c Command) []flagSpec {
				x := c.(*Copy)
				return slices.Concat([]flagSpec{
					textFlag("name", "TEXT", &x.Name, maxName, "backup to copy; without it, the latest").as(FactNone),
					p.targetFlag(&x.Target, "the latest backup of this target"),
					{name: "to", arg: "NAME", usage: "storage to copy to", value: nameChoice{&x.To, p.storageNames(false), "storage", p.helpStorages(false)}, fact: FactStorage},
				}, p.storageFlags(&x.Storage, false, "where the backup is (else the default storage)"), diagnosticsFlags(&x.Diagnostics))
			},
			check: func(c Command) error {
				x := c.(*Copy)
				if x.To == "" {
					return &Error{Message: "copy needs --to", Hint: "E.g. `/backup copy --name critical --to offsite`."}
				}
				if x.To == x.Storage.Name {
					return &Error{Flag: "to", Message: fmt.Sprintf("--to %s is the storage the backup is in", x.To), Hint: "Name another storage."}
				}
				return checkStorage(x.Storage)
			},
		},
		{
			action:  ActionSnapshot,
			summary: "Take a point-in-time infrastructure snapshot",
			examples: []string{
				"/backup snapshot --resource vm --name pre-update --consistent",
				`/backup snapshot --resource database --tags "purpose=compliance"`,
				"/backup snapshot --resource all --expire 24",
			},
			newCommand: func() Command { return &Snapshot{Resource: ResourceAll} },
			flags: func(p Parser, c Command) []flagSpec {
				x := c.(*Snapshot)
				return slices.Concat([]flagSpec{
					{name: "resource", arg: "KIND", usage: "what to snapshot", value: enumValue[Resource]{&x.Resource, snapshotResources}, fact: FactResource},
					textFlag("name", "TEXT", &x.Name, maxName, "snapshot identifier").as(FactNone),
					boolFlag("consistent", &x.Consistent, "quiesce applications first").as(FactSwitch),
					tagsFlag(&x.Tags, "label the snapshot; repeatable").as(FactNone),
					{name: "expire", arg: "HOURS", usage: "delete it after this many hours", value: wholeValue[Hours]{&x.Expire, maxHours, "hours", "h"}, fact: FactNone},
				}, p.storageFlags(&x.Storage, false, "where to store it"), diagnosticsFlags(&x.Diagnostics))
			},
			check: func(c Command) error { return checkStorage(c.(*Snapshot).Storage) },
		},
		{
			action:   ActionTest,
			summary:  "Test that a storage is reachable and writable",
			examples: []string{"/backup test --storage azure --debug"},
			newCommand: func() Command {
				return &Test{}
			},
			flags: func(p Parser, c Command) []flagSpec {
				x := c.(*Test)
				return slices.Concat(p.storageFlags(&x.Storage, false, "storage to test (else the default one)"), diagnosticsFlags(&x.Diagnostics))
			},
			check: func(c Command) error { return checkStorage(c.(*Test).Storage) },
		},
		{
			action:   ActionAnalyze,
			summary:  "Analyze a backup's size, deduplication and speed",
			notes:    []string{"Without --name, analyzes the whole repository.", "--report compliance reports on every target, whatever --name says."},
			examples: []string{"/backup analyze --name slow-backup --performance", "/backup analyze --report compliance"},
			newCommand: func() Command {
				return &Analyze{}
			},
			flags: func(p Parser, c Command) []flagSpec {
				x := c.(*Analyze)
				return slices.Concat([]flagSpec{
					textFlag("name", "TEXT", &x.Name, maxName, "backup to analyze").as(FactNone),
					boolFlag("performance", &x.Performance, "include throughput and timings").as(FactSwitch),
					// A switch: a rule's flags map may keep the report (which
					// reads every target's history) to some roles.
					{name: "report", arg: "REPORT", usage: "write a report instead: compliance (coverage, success rates, RPO, retention, 3-2-1 per target, CSV attached)",
						value: enumValue[AnalyzeReport]{&x.Report, analyzeReports}, fact: FactSwitch},
				}, p.storageFlags(&x.Storage, false, "where the backup is"), diagnosticsFlags(&x.Diagnostics))
			},
			check: func(c Command) error { return checkStorage(c.(*Analyze).Storage) },
		},
		{
			action:     ActionStatus,
			summary:    "Show one job's progress",
			examples:   []string{"/backup status 7f3a9c"},
			newCommand: func() Command { return &Status{} },
			flags:      noFlags,
			arg: func(c Command) *positionalSpec {
				return &positionalSpec{name: "JOB", what: "job id", required: true, value: patternValue{&c.(*Status).JobID, jobIDPattern, jobIDRule}}
			},
		},
		{
			action:     ActionCancel,
			summary:    "Cancel a job at its next safe point",
			examples:   []string{"/backup cancel 7f3a9c"},
			newCommand: func() Command { return &Cancel{} },
			flags:      noFlags,
			arg: func(c Command) *positionalSpec {
				return &positionalSpec{name: "JOB", what: "job id", required: true, value: patternValue{&c.(*Cancel).JobID, jobIDPattern, jobIDRule}}
			},
		},
		{
			action:     ActionApprovals,
			summary:    "List pending approvals, or withdraw your own request",
			examples:   []string{"/backup approvals", "/backup approvals --withdraw 7f3a9c"},
			newCommand: func() Command { return &Approvals{} },
			flags: func(_ Parser, c Command) []flagSpec {
				x := c.(*Approvals)
				return []flagSpec{{name: "withdraw", arg: "ID", usage: "withdraw this request of yours", value: patternValue{&x.Withdraw, jobIDPattern, jobIDRule}, fact: FactSwitch}}
			},
		},
		{
			action:     ActionAudit,
			summary:    "Show the audit log",
			examples:   []string{"/backup audit --age 7 --user alice"},
			newCommand: func() Command { return &Audit{} },
			flags: func(_ Parser, c Command) []flagSpec {
				x := c.(*Audit)
				return []flagSpec{
					daysFlag("age", &x.Age, "only entries newer than this many days").as(FactNone),
					textFlag("user", "USER", &x.User, maxName, "only entries by this user").as(FactNone),
				}
			},
		},
		{
			action:     ActionHelp,
			summary:    "List the actions, or show one action's options",
			examples:   []string{"/backup help", "/backup help restore"},
			newCommand: func() Command { return &Help{} },
			flags:      noFlags,
			arg: func(c Command) *positionalSpec {
				return &positionalSpec{name: "ACTION", what: "action", value: helpTopicValue{&c.(*Help).Topic}}
			},
		},
	}
}

func noFlags(Parser, Command) []flagSpec { return nil }

// helpTopicValue is an action name, the topic of help.
type helpTopicValue struct{ p *string }

func (v helpTopicValue) set(s string) error {
	if _, ok := actionTableByName[Action(toLower(s))]; !ok {
		return &Error{
			Message:    fmt.Sprintf("there is no action %s", show(s)),
			Suggestion: suggest(s, actionNames()),
			Hint:       "`/backup help` lists the actions.",
		}
	}
	*v.p = toLower(s)
	return nil
}

func (v helpTopicValue) get() string { return *v.p }

// checkSchedule applies the rules of each schedule operation.
func checkSchedule(c Command) error {
	x := c.(*Schedule)
	changes := changedScheduleFlags(x)
	switch x.Op {
	case ScheduleCreate:
		if x.Name == "" || x.Cron == "" {
			return &Error{Message: "schedule --action create needs --name and --cron", Hint: "E.g. `/backup schedule --action create --name daily --cron \"0 2 * * *\"`."}
		}
		if x.Type == "" {
			x.Type = defaultCreateType
		}
		if x.Target == "" {
			x.Target = defaultTarget
		}
	case ScheduleUpdate:
		if x.Name == "" {
			return &Error{Message: "schedule --action update needs --name", Hint: "Name the schedule to change."}
		}
		if len(changes) == 0 {
			return &Error{Message: "schedule --action update has nothing to change", Hint: "Give --cron, --kind, --type, --target, --retention or --storage."}
		}
	case ScheduleDelete, ScheduleList:
		if x.Op == ScheduleDelete && x.Name == "" {
			return &Error{Message: "schedule --action delete needs --name", Hint: "Name the schedule to delete."}
		}
		if len(changes) > 0 {
			return &Error{Flag: changes[0], Message: fmt.Sprintf("--%s does not go with schedule --action %s", changes[0], x.Op), Hint: "It is for --action create or update."}
		}
	}
	return checkStorage(x.Storage)
}

// changedScheduleFlags names the schedule settings the command sets.
func changedScheduleFlags(x *Schedule) []string {
	var out []string
	if x.Cron != "" {
		out = append(out, "cron")
	}
	if x.Kind != "" {
		out = append(out, "kind")
	}
	if x.Type != "" {
		out = append(out, "type")
	}
	if x.Target != "" {
		out = append(out, "target")
	}
	if x.Retention != 0 {
		out = append(out, "retention")
	}
	if x.Storage != (StorageRef{}) {
		out = append(out, "storage")
	}
	return out
}

// checkStorage rejects location overrides that cannot apply to the
// storage kind named (a configured name's kind is checked later, by the
// code that knows the configuration).
func checkStorage(ref StorageRef) error {
	var allowed []string
	switch ref.Name {
	case "all", "remote":
		allowed = nil
	case "local", "network":
		allowed = []string{"path"}
	case "azure":
		allowed = []string{"container"}
	case "s3", "aws":
		allowed = []string{"bucket", "region"}
	default:
		return nil
	}
	set := map[string]bool{"path": ref.Path != "", "container": ref.Container != "", "bucket": ref.Bucket != "", "region": ref.Region != ""}
	for _, flag := range []string{"path", "container", "bucket", "region"} {
		if set[flag] && !slices.Contains(allowed, flag) {
			hint := "It locates one storage; name that storage with --storage."
			if len(allowed) > 0 {
				dashed := make([]string, len(allowed))
				for i, a := range allowed {
					dashed[i] = "--" + a
				}
				hint = fmt.Sprintf("For %s storage use %s.", ref.Name, orList(dashed))
			}
			return &Error{Flag: flag, Message: fmt.Sprintf("--%s does not apply to --storage %s", flag, ref.Name), Hint: hint}
		}
	}
	return nil
}
