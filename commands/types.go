// Package commands is the /backup command language: it splits chat text with
// shlex, parses it into one typed, validated Go value per action, renders a
// value back to canonical text, and generates help from the same definitions
// the parser uses. It does no I/O and imports no other backupbot package.
package commands

// Action names one /backup action.
type Action string

// The actions of the command reference, plus the service's own.
const (
	ActionCreate    Action = "create"
	ActionRestore   Action = "restore"
	ActionList      Action = "list"
	ActionSchedule  Action = "schedule"
	ActionVerify    Action = "verify"
	ActionCleanup   Action = "cleanup"
	ActionExport    Action = "export"
	ActionCopy      Action = "copy"
	ActionSnapshot  Action = "snapshot"
	ActionTest      Action = "test"
	ActionAnalyze   Action = "analyze"
	ActionHelp      Action = "help"
	ActionStatus    Action = "status"
	ActionCancel    Action = "cancel"
	ActionApprovals Action = "approvals"
	ActionAudit     Action = "audit"
)

// Command is one parsed, validated /backup command. The concrete types are
// the structs below; a type switch on them is the normal way to consume one.
type Command interface {
	// Action says which action this command is.
	Action() Action
}

// BackupType is full, incremental or differential.
type BackupType string

// Backup types.
const (
	TypeFull         BackupType = "full"
	TypeIncremental  BackupType = "incremental"
	TypeDifferential BackupType = "differential"
)

// Days is a whole number of days (retention, --age, --older-than).
type Days int

// Hours is a whole number of hours (snapshot --expire).
type Hours int

// Size is a number of bytes, parsed from forms like 4GB, 500MiB, 1.5GB.
type Size int64

// Percent is a share from above 0 to 100 (--sample 5%).
type Percent float64

// Tag is one key=value pair; Tags keep the order they were given in.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// StorageRef says which storage a command uses: a configured storage name
// or a kind (local, network, azure, aws, s3; for list also all and remote),
// and the per-command location overrides (--path, --container, --bucket,
// --region). Resolving it to a configured storage happens outside this
// package, where the configuration is known.
type StorageRef struct {
	Name      string `json:"name,omitempty"`
	Path      string `json:"path,omitempty"`
	Container string `json:"container,omitempty"`
	Bucket    string `json:"bucket,omitempty"`
	Region    string `json:"region,omitempty"`
}

// Diagnostics are the flags every action accepts.
type Diagnostics struct {
	Verbose bool `json:"verbose,omitempty"`
	Debug   bool `json:"debug,omitempty"`
}

// Create makes a backup of a target into a storage.
type Create struct {
	Diagnostics
	Type      BackupType `json:"type"`
	Target    string     `json:"target"`
	Name      string     `json:"name,omitempty"`
	Compress  bool       `json:"compress"`
	Encrypt   bool       `json:"encrypt"`
	Storage   StorageRef `json:"storage"`
	Retention Days       `json:"retention,omitempty"`
	Tags      []Tag      `json:"tags,omitempty"`
}

// Restore writes a snapshot's files back, or previews doing so.
type Restore struct {
	Diagnostics
	Name     string     `json:"name,omitempty"`
	Date     *Date      `json:"date,omitempty"`
	Time     *Clock     `json:"time,omitempty"`
	Type     BackupType `json:"type,omitempty"`
	Target   string     `json:"target"`
	Filter   string     `json:"filter,omitempty"`
	To       string     `json:"to,omitempty"`
	Preview  bool       `json:"preview,omitempty"`
	Validate bool       `json:"validate,omitempty"`
	Force    bool       `json:"force,omitempty"`
	Storage  StorageRef `json:"storage"`
}

// List shows backups (or, with Running, the jobs in flight).
type List struct {
	Diagnostics
	Storage StorageRef `json:"storage"`
	Age     Days       `json:"age,omitempty"`
	Type    BackupType `json:"type,omitempty"`
	Target  string     `json:"target,omitempty"`
	Name    string     `json:"name,omitempty"`
	Size    bool       `json:"size,omitempty"`
	Verify  bool       `json:"verify,omitempty"`
	Running bool       `json:"running,omitempty"`
}

// ScheduleOp is what a schedule command does.
type ScheduleOp string

// Schedule operations.
const (
	ScheduleCreate ScheduleOp = "create"
	ScheduleUpdate ScheduleOp = "update"
	ScheduleDelete ScheduleOp = "delete"
	ScheduleList   ScheduleOp = "list"
)

// ScheduleKind is what a schedule runs.
type ScheduleKind string

// Schedule kinds.
const (
	ScheduleBackup     ScheduleKind = "backup"      // create (the default)
	ScheduleVerify     ScheduleKind = "verify"      // verify --all
	ScheduleVerifyDeep ScheduleKind = "verify-deep" // verify --all --deep
	ScheduleCleanup    ScheduleKind = "cleanup"     // cleanup by the retention policies
	// ScheduleRestoreTest is a recovery drill: verify --restore-test --all.
	ScheduleRestoreTest ScheduleKind = "restore-test"
)

// Schedule manages recurring backups and other recurring work.
type Schedule struct {
	Diagnostics
	Op ScheduleOp `json:"operation"`
	// Kind is what it runs (empty: backup).
	Kind      ScheduleKind `json:"kind,omitempty"`
	Name      string       `json:"name,omitempty"`
	Cron      Cron         `json:"cron,omitempty"`
	Type      BackupType   `json:"type,omitempty"`
	Target    string       `json:"target,omitempty"`
	Storage   StorageRef   `json:"storage"`
	Retention Days         `json:"retention,omitempty"`
}

// Verify checks backups' integrity.
type Verify struct {
	Diagnostics
	Name   string `json:"name,omitempty"`
	All    bool   `json:"all,omitempty"`
	Deep   bool   `json:"deep,omitempty"`
	Fix    bool   `json:"fix,omitempty"`
	Report bool   `json:"report,omitempty"`
	// RestoreTest is a recovery drill: restore (a Sample of) the backup to
	// a scratch directory and compare it with the stored hashes and the
	// source.
	RestoreTest bool       `json:"restore_test,omitempty"`
	Sample      Percent    `json:"sample,omitempty"`
	Storage     StorageRef `json:"storage"`
}

// Cleanup removes old backups by age and count.
type Cleanup struct {
	Diagnostics
	OlderThan Days       `json:"older_than,omitempty"`
	KeepMin   int        `json:"keep_min,omitempty"`
	Type      BackupType `json:"type,omitempty"`
	Target    string     `json:"target,omitempty"`
	DryRun    bool       `json:"dry_run,omitempty"`
	Force     bool       `json:"force,omitempty"`
	Storage   StorageRef `json:"storage"`
}

// ExportFormat is tar, zip or 7z.
type ExportFormat string

// Export formats.
const (
	FormatTar ExportFormat = "tar"
	FormatZip ExportFormat = "zip"
	Format7z  ExportFormat = "7z"
)

// Export writes a snapshot out as an archive.
type Export struct {
	Diagnostics
	Name        string       `json:"name,omitempty"`
	Format      ExportFormat `json:"format"`
	Destination string       `json:"destination,omitempty"`
	Split       Size         `json:"split,omitempty"`
	Checksum    bool         `json:"checksum,omitempty"`
	// Force replaces an archive of the same name at the destination.
	Force   bool       `json:"force,omitempty"`
	Storage StorageRef `json:"storage"`
}

// Copy copies a backup to another storage (only the data it lacks).
type Copy struct {
	Diagnostics
	// Name is the backup (name, ID or "latest"; default latest).
	Name   string `json:"name,omitempty"`
	Target string `json:"target,omitempty"`
	// To is the storage the copy goes to.
	To string `json:"to"`
	// Storage is where the backup is.
	Storage StorageRef `json:"storage"`
}

// Resource is what an infrastructure snapshot captures.
type Resource string

// Snapshot resources.
const (
	ResourceVM       Resource = "vm"
	ResourceDatabase Resource = "database"
	ResourceStorage  Resource = "storage"
	ResourceAll      Resource = "all"
)

// Snapshot takes a point-in-time snapshot of infrastructure state.
type Snapshot struct {
	Diagnostics
	Resource   Resource   `json:"resource"`
	Name       string     `json:"name,omitempty"`
	Consistent bool       `json:"consistent,omitempty"`
	Tags       []Tag      `json:"tags,omitempty"`
	Expire     Hours      `json:"expire,omitempty"`
	Storage    StorageRef `json:"storage"`
}

// Test checks that a storage is reachable and usable.
type Test struct {
	Diagnostics
	Storage StorageRef `json:"storage"`
}

// AnalyzeReport is a report analyze writes instead of its analysis.
type AnalyzeReport string

// Analyze reports.
const (
	// ReportCompliance: every target's coverage, success rates, RPO,
	// retention and 3-2-1 status, with a CSV attached.
	ReportCompliance AnalyzeReport = "compliance"
)

// Analyze reports on a backup's size, dedup and performance, or without
// Name on the whole repository, or with Report writes that report.
type Analyze struct {
	Diagnostics
	Name        string        `json:"name,omitempty"`
	Performance bool          `json:"performance,omitempty"`
	Report      AnalyzeReport `json:"report,omitempty"`
	Storage     StorageRef    `json:"storage"`
}

// Help asks for the action list or one action's options.
type Help struct {
	Topic string `json:"topic,omitempty"`
}

// Status asks about one job.
type Status struct {
	JobID string `json:"job"`
}

// Cancel stops one job at its next safe point.
type Cancel struct {
	JobID string `json:"job"`
}

// Approvals lists pending approvals, or withdraws one the requester made.
type Approvals struct {
	Withdraw string `json:"withdraw,omitempty"`
}

// Audit shows the audit log.
type Audit struct {
	Age  Days   `json:"age,omitempty"`
	User string `json:"user,omitempty"`
}

// Action implementations.
func (*Create) Action() Action    { return ActionCreate }
func (*Restore) Action() Action   { return ActionRestore }
func (*List) Action() Action      { return ActionList }
func (*Schedule) Action() Action  { return ActionSchedule }
func (*Verify) Action() Action    { return ActionVerify }
func (*Cleanup) Action() Action   { return ActionCleanup }
func (*Export) Action() Action    { return ActionExport }
func (*Copy) Action() Action      { return ActionCopy }
func (*Snapshot) Action() Action  { return ActionSnapshot }
func (*Test) Action() Action      { return ActionTest }
func (*Analyze) Action() Action   { return ActionAnalyze }
func (*Help) Action() Action      { return ActionHelp }
func (*Status) Action() Action    { return ActionStatus }
func (*Cancel) Action() Action    { return ActionCancel }
func (*Approvals) Action() Action { return ActionApprovals }
func (*Audit) Action() Action     { return ActionAudit }
