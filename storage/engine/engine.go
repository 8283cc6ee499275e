// Package engine is the backup engine's facade: the one type the job workers
// and backupctl use to make, list, restore and verify backups in a
// repository. It opens (or creates) a repository on a backend.Backend and
// turns requests into the repository operations in storage/repo.
package engine

import (
	"errors"
	"log/slog"
	"time"

	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/progress"
	"github.com/backupbot/backupbot/storage/repo"
	"github.com/backupbot/backupbot/storage/retention"
)

// ErrWrongPassword is returned (wrapped) by Open when no key of the
// repository opens with the given password.
var ErrWrongPassword = errors.New("wrong repository password")

// ErrSnapshotNotFound is returned (wrapped) when a snapshot reference names
// no snapshot.
var ErrSnapshotNotFound = errors.New("snapshot not found")

// ErrNotEncrypted is returned (wrapped) when encryption is required but the
// repository stores data in plaintext.
var ErrNotEncrypted = errors.New("repository is not encrypted")

// ErrNoRepository is returned (wrapped) by Open when the backend holds no
// repository and OpenOptions.Create is false.
var ErrNoRepository = errors.New("no repository at this location")

// Phases reported in Progress.Phase.
const (
	PhaseScan    = "scan"    // walking the source tree
	PhaseBackup  = "backup"  // reading, chunking and storing file data
	PhaseCommit  = "commit"  // writing index and snapshot
	PhaseRestore = "restore" // writing files back
	PhaseVerify  = "verify"  // checking repository structure and data
	PhaseCleanup = "cleanup" // forgetting snapshots and pruning packs
	PhaseCopy    = "copy"    // copying a snapshot to another repository
)

// Backup types.
const (
	TypeFull         = "full"
	TypeIncremental  = "incremental"
	TypeDifferential = "differential"
)

// OpenOptions control how Open finds or creates a repository.
type OpenOptions struct {
	// Password unlocks the repository and encrypts a new one. A new
	// repository without one is refused (ErrPasswordRequired) unless
	// Plaintext is set.
	Password string
	// Plaintext says the storage is configured with `encryption: none`: a
	// new repository is created unencrypted. It is the only way to get one.
	Plaintext bool
	// Create initialises a repository when the backend holds none. It never
	// initialises over a location whose config is missing but that holds
	// repository files (ErrConfigMissing).
	Create bool
	// Encrypt requires the repository to be encrypted: a new one is created
	// encrypted (which needs a Password), an existing plaintext one is an
	// error wrapping ErrNotEncrypted.
	Encrypt bool
	// RebuildConfig (verify --fix) rebuilds a missing config of an
	// encrypted repository from a key file that opens with Password and
	// opens the repository's own files, instead of failing with
	// ErrConfigMissing; Warnings then says so.
	RebuildConfig bool
	// Logger receives the engine's log lines; nil discards them.
	Logger *slog.Logger
	// DeferIndex leaves the index unread: for a caller whose operation
	// reads it anyway once it holds its lock (Backup does), reading it
	// at open too is a second listing of every index file.
	DeferIndex bool
	// Cache, shared by the opens of a long-running process (a worker),
	// saves the key derivation and the snapshot files read before
	// (repo.Cache); nil caches nothing.
	Cache *repo.Cache
}

// Progress is one progress report.
type Progress struct {
	Phase      string `json:"phase"`
	Files      int64  `json:"files"`
	FilesTotal int64  `json:"files_total"`
	Bytes      int64  `json:"bytes"`
	BytesTotal int64  `json:"bytes_total"`
	Path       string `json:"path,omitempty"`
}

// ProgressFunc receives progress reports. It is called often and from the
// engine's goroutines one at a time; callers throttle what they display.
type ProgressFunc func(Progress)

// phase passes an archiver's or restorer's reports on to p as reports of
// the phase (nil when p is nil).
func (p ProgressFunc) phase(phase string) func(progress.Report) {
	if p == nil {
		return nil
	}
	return func(r progress.Report) {
		p(Progress{Phase: phase, Files: r.Files, FilesTotal: r.FilesTotal, Bytes: r.Bytes, BytesTotal: r.BytesTotal, Path: r.Path})
	}
}

// SnapshotInfo describes one snapshot.
type SnapshotInfo struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Type        string            `json:"type"`
	Target      string            `json:"target"`
	Paths       []string          `json:"paths"`
	Tags        map[string]string `json:"tags,omitempty"`
	Host        string            `json:"host"`
	Time        time.Time         `json:"time"`
	Parent      string            `json:"parent,omitempty"`
	Files       int64             `json:"files"`
	Dirs        int64             `json:"dirs"`
	Size        int64             `json:"size"`
	Added       int64             `json:"added"`
	Duration    time.Duration     `json:"duration"`
	JobID       string            `json:"job_id,omitempty"`
	ToolVersion string            `json:"tool_version"`
	ExpiresAt   time.Time         `json:"expires_at,omitzero"`
	// Partial says the backup could not read some files; Skipped names
	// them (at most repo.MaxSkipped) and SkippedCount counts them.
	Partial      bool               `json:"partial,omitempty"`
	Skipped      []repo.SkippedPath `json:"skipped,omitempty"`
	SkippedCount int64              `json:"skipped_count,omitempty"`
	// Lost is set when verify --fix marked the snapshot damaged: the files
	// whose data is gone for good. Its other files still restore.
	Lost []LostFile `json:"lost,omitempty"`
	// Origin is set on a snapshot copied from another storage (Copy).
	Origin *repo.Origin `json:"origin,omitempty"`
}

// BackupRequest says what to back up and how.
type BackupRequest struct {
	// Paths are the absolute source paths (files or directories).
	Paths []string
	// Exclude holds glob patterns matched against base names and full paths.
	Exclude []string
	// Type is full, incremental or differential (default incremental).
	Type string
	// Name addresses the snapshot later; empty gets "<target>-YYYYMMDD-HHMMSS".
	Name   string
	Target string
	Tags   map[string]string
	// Compress enables zstd for chunks that compress.
	Compress bool
	// RequireEncryption fails with ErrNotEncrypted on a plaintext repository.
	RequireEncryption bool
	// Retention, when positive, sets the snapshot's ExpiresAt.
	Retention time.Duration
	// JobID makes the backup idempotent: a snapshot with this JobID is
	// returned as is instead of making another.
	JobID string
	// Host records the machine; empty means os.Hostname.
	Host string
	// Time is the snapshot's time (zero: when the backup starts), for a
	// simulated clock in tests.
	Time time.Time
}

// BackupResult summarises a finished backup. DedupRatio is BytesRead over
// the new data stored (0 when nothing new was stored); CompressionRatio is
// the new data's size before over after compression (0 when none).
type BackupResult struct {
	Snapshot         SnapshotInfo  `json:"snapshot"`
	FilesNew         int64         `json:"files_new"`
	FilesChanged     int64         `json:"files_changed"`
	FilesUnchanged   int64         `json:"files_unchanged"`
	BytesRead        int64         `json:"bytes_read"`
	BytesAdded       int64         `json:"bytes_added"`
	DedupRatio       float64       `json:"dedup_ratio"`
	CompressionRatio float64       `json:"compression_ratio"`
	Duration         time.Duration `json:"duration"`
	// Reused is true when an earlier snapshot with the same JobID was returned.
	Reused bool `json:"reused,omitempty"`
	// BlobBytesNew is the plaintext size of the new file data stored.
	BlobBytesNew int64 `json:"blob_bytes_new"`
	// Warnings name files that could not be read (the snapshot lacks them).
	Warnings []string `json:"warnings,omitempty"`
	// ResumedPacks and ResumedBytes are the packs an interrupted earlier
	// backup had uploaded that this one adopted instead of uploading their
	// data again (not counted in BytesAdded).
	ResumedPacks int   `json:"resumed_packs,omitempty"`
	ResumedBytes int64 `json:"resumed_bytes,omitempty"`
	// Notices say what damage elsewhere in the repository the backup
	// skipped (unreadable snapshot or index files); the snapshot is whole.
	Notices []string `json:"notices,omitempty"`
	// Phases are the backup's steps in order (scan, read, chunk,
	// compress, encrypt, upload, commit) with the time each took and
	// what it counted (--verbose shows them). Steps done by several
	// goroutines at once sum their time, so it may exceed Duration.
	Phases []PhaseStat `json:"phases,omitempty"`
}

// PhaseStat is the time and count of one step of a backup.
type PhaseStat struct {
	Name     string        `json:"name"`
	Duration time.Duration `json:"duration"`
	// Count is how many Units the step handled; Bytes how many bytes.
	Count int64  `json:"count"`
	Unit  string `json:"unit"`
	Bytes int64  `json:"bytes,omitempty"`
}

// RestoreRequest says which snapshot to restore and where.
type RestoreRequest struct {
	// Snapshot is a name, ID, ID prefix or "latest".
	Snapshot string
	// At selects the newest snapshot at or before this moment when Snapshot is "".
	At time.Time
	// Type and Target narrow the snapshots Snapshot/At choose from.
	Type   string
	Target string
	// Filter is a path prefix or glob; only matching entries are restored.
	Filter string
	// To is the destination directory; "" restores to the original paths.
	To string
	// Preview returns the plan and writes nothing.
	Preview bool
	// Validate reads and checks every chunk the restore needs before writing.
	Validate bool
}

// Plan actions.
const (
	ActionCreate    = "create"
	ActionOverwrite = "overwrite"
	ActionUnchanged = "unchanged"
)

// PlanEntry is what a restore does (or would do) to one path.
type PlanEntry struct {
	Path   string `json:"path"`
	Action string `json:"action"`
	Size   int64  `json:"size"`
}

// RestoreResult summarises a restore.
type RestoreResult struct {
	Snapshot     SnapshotInfo  `json:"snapshot"`
	Plan         []PlanEntry   `json:"plan,omitempty"`
	FilesWritten int64         `json:"files_written"`
	BytesWritten int64         `json:"bytes_written"`
	Duration     time.Duration `json:"duration"`
	// Warnings name entries that were skipped or restored without all metadata.
	Warnings []string `json:"warnings,omitempty"`
	// Lost names every file (or directory) that could not be restored
	// and why; everything else was written (with Validate: nothing was).
	Lost []LostFile `json:"lost,omitempty"`
	// Notices say what damage elsewhere in the repository was skipped.
	Notices []string `json:"notices,omitempty"`
}

// SnapshotFilter narrows Snapshots; zero fields match everything.
type SnapshotFilter struct {
	Name      string
	Type      string
	Target    string
	NewerThan time.Time
}

// VerifyRequest says what to check.
type VerifyRequest struct {
	// Snapshot is a reference as for Find; "" with All=false means latest.
	Snapshot string
	All      bool
	// Deep reads, decrypts and hashes every chunk the snapshots need.
	Deep bool
	// Fix repairs what can be repaired and marks what is lost (it implies
	// All and Deep); see Engine.Verify.
	Fix bool
}

// Problem is one thing Verify found wrong.
type Problem struct {
	Snapshot string `json:"snapshot,omitempty"`
	File     string `json:"file,omitempty"`
	Pack     string `json:"pack,omitempty"`
	Detail   string `json:"detail"`
}

// VerifyReport is Verify's result.
type VerifyReport struct {
	Snapshots  int       `json:"snapshots"`
	Packs      int       `json:"packs"`
	Chunks     int       `json:"chunks"`
	Problems   []Problem `json:"problems,omitempty"`
	StaleLocks []string  `json:"stale_locks,omitempty"`
	Fixed      []string  `json:"fixed,omitempty"`
	// Notes say what the check recorded or could not do, besides problems.
	Notes         []string `json:"notes,omitempty"`
	BytesVerified int64    `json:"bytes_verified"`
	// Unreferenced counts packs no index lists: left by killed backups,
	// harmless; the next backup adopts them (see FORMAT.md, Resuming),
	// a cleanup may remove them.
	Unreferenced int `json:"unreferenced_packs"`
}

// OK reports whether no problem was found.
func (r *VerifyReport) OK() bool { return len(r.Problems) == 0 }

// CleanupRequest says which snapshots to forget (see Cleanup).
type CleanupRequest struct {
	// OlderThan forgets snapshots older than this (0: the policies decide,
	// or with no Policy only expired snapshots go).
	OlderThan time.Duration
	// KeepMin keeps at least this many of the newest matching snapshots
	// of each target (the larger of it and the policy's keep_min).
	KeepMin int
	Type    string
	Target  string
	// Policy gives the retention group and policy of a snapshot by its
	// target and the schedule that made it (tag "schedule"); used when
	// OlderThan is 0.
	Policy func(target, schedule string) (group string, p retention.Policy) `json:"-"`
	// Grace is how long a pack stays a prune candidate before it may be
	// deleted while other operations run (0: DefaultPruneGrace). It must
	// be longer than any backup runs.
	Grace time.Duration
	// Now stands for the clock (zero: time.Now), for expiry and tests.
	Now time.Time
	// MaxUnused is the share of unused bytes in the packs kept that is
	// tolerated before they are repacked (0: DefaultMaxUnused; negative:
	// never repack). MaxRepackSize bounds the bytes of packs rewritten in
	// one cleanup (0: no bound).
	MaxUnused     float64
	MaxRepackSize int64
	// DryRun reports what would be removed and removes nothing.
	DryRun bool
}

// CleanupResult summarises a cleanup.
type CleanupResult struct {
	Removed      []SnapshotInfo `json:"removed"`
	Kept         int            `json:"kept"`
	PacksDeleted int            `json:"packs_deleted"`
	BytesFreed   int64          `json:"bytes_freed"`
	DryRun       bool           `json:"dry_run,omitempty"`
	// Notices say what damage made the cleanup skip or keep.
	Notices []string `json:"notices,omitempty"`
	// Decisions say, per snapshot considered, whether it stays and why.
	Decisions []RetentionDecision `json:"decisions,omitempty"`
	// PacksPending and BytesPending are prune candidates whose grace has
	// not passed: a later cleanup deletes them if still unreferenced.
	PacksPending int   `json:"packs_pending,omitempty"`
	BytesPending int64 `json:"bytes_pending,omitempty"`
	// PacksRescued were candidates a snapshot came to reference.
	PacksRescued int `json:"packs_rescued,omitempty"`
	// PacksRepacked were mostly unused (or small) packs whose used blobs
	// were copied into BytesWritten of new packs; the old ones go like
	// any candidate. BytesFreed is net of BytesWritten.
	PacksRepacked int   `json:"packs_repacked,omitempty"`
	BytesWritten  int64 `json:"bytes_written,omitempty"`
	// Reclaimable is what the repository shrinks by once every
	// unreferenced pack is deleted (the dry run's promise); -1 when a dry
	// run could not tell (Warnings says why).
	Reclaimable int64    `json:"reclaimable"`
	Warnings    []string `json:"warnings,omitempty"`
	// BlobsIndexed is how many blobs the index listed: what a cleanup's
	// memory grows with (README, "Prune memory").
	BlobsIndexed int `json:"blobs_indexed,omitempty"`
}

// RetentionDecision is the verdict on one snapshot.
type RetentionDecision struct {
	SnapshotInfo
	Keep    bool     `json:"keep"`
	Reasons []string `json:"reasons"`
}

// Engine is an open repository. Its methods are safe for concurrent use;
// several engines (processes) may share one repository, with the locks in
// the repository keeping deletes away from running backups.
type Engine struct {
	be   backend.Backend
	log  *slog.Logger
	repo *repo.Repository
	// warnings are what Open noticed that a result should say (Warnings).
	warnings []string
}

// ToolVersion is recorded in every snapshot.
const ToolVersion = "backupbot/0.1.0"
