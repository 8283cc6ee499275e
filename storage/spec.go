// Package storage holds the backup engine and its backends. This root
// package names a storage as the configuration describes it (Spec) and
// opens the matching backend; the engine lives in its sub-packages.
package storage

import (
	"github.com/backupbot/backupbot/storage/retention"
	"github.com/backupbot/backupbot/storage/smb"
)

// Kinds of storage a Spec can name.
const (
	KindLocal   = "local"   // a directory on this machine
	KindNetwork = "network" // a mounted SMB/NFS path (like local), or an SMB share reached directly (smb://, \\host\share)
	KindS3      = "s3"      // Amazon S3 or an S3-compatible server
	KindAWS     = "aws"     // the same as s3
	KindAzure   = "azure"   // Azure Blob Storage (or Azurite)
)

// Spec describes one named storage from the configuration file. Secrets are
// never part of it: they come from the environment (AWS_*, the Azure SDK's
// variables, AZURE_STORAGE_CONNECTION_STRING) or from files named here.
type Spec struct {
	Type string `yaml:"type" json:"type"`
	// Path is the repository directory for local and network storages. A
	// network storage's path may instead be an SMB location,
	// smb://host[:port]/share/dir or \\host\share\dir, which is reached
	// directly over SMB2/3 without a mount.
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
	// Port is the SMB server's port for an SMB location written without one
	// (a UNC path has none); default 445.
	Port int `yaml:"port,omitempty" json:"port,omitempty"`
	// User and Domain log on to an SMB location (NTLM); the password comes
	// from SMBPasswordFile, else $BACKUPBOT_SMB_PASSWORD, else the file
	// named by $BACKUPBOT_SMB_PASSWORD_FILE. No user: guest.
	User            string `yaml:"user,omitempty" json:"user,omitempty"`
	Domain          string `yaml:"domain,omitempty" json:"domain,omitempty"`
	SMBPasswordFile string `yaml:"smb_password_file,omitempty" json:"smb_password_file,omitempty"`
	// Bucket, Region and Prefix locate an S3 repository; Container, Account
	// and Prefix an Azure one.
	Bucket    string `yaml:"bucket,omitempty" json:"bucket,omitempty"`
	Region    string `yaml:"region,omitempty" json:"region,omitempty"`
	Container string `yaml:"container,omitempty" json:"container,omitempty"`
	Account   string `yaml:"account,omitempty" json:"account,omitempty"`
	Prefix    string `yaml:"prefix,omitempty" json:"prefix,omitempty"`
	// Endpoint overrides the service address (S3-compatible servers, Azurite).
	Endpoint string `yaml:"endpoint,omitempty" json:"endpoint,omitempty"`
	// PathStyle forces path-style S3 addressing (most S3-compatible servers).
	PathStyle bool `yaml:"path_style,omitempty" json:"path_style,omitempty"`
	// StorageClass (S3) or AccessTier (Azure) for new objects.
	StorageClass string `yaml:"storage_class,omitempty" json:"storage_class,omitempty"`
	AccessTier   string `yaml:"access_tier,omitempty" json:"access_tier,omitempty"`
	// SSE selects S3 server-side encryption: "", "AES256" or "aws:kms".
	SSE      string `yaml:"sse,omitempty" json:"sse,omitempty"`
	SSEKMSID string `yaml:"sse_kms_key_id,omitempty" json:"sse_kms_key_id,omitempty"`
	// PasswordFile names a file holding the repository password; else
	// BACKUPBOT_REPO_PASSWORD / BACKUPBOT_REPO_PASSWORD_FILE apply.
	PasswordFile string `yaml:"password_file,omitempty" json:"password_file,omitempty"`
	// Encryption of a new repository: "" or EncryptionAES (the default:
	// encrypted, a password is required) or EncryptionNone (unencrypted;
	// the only way to get a plaintext repository).
	Encryption string `yaml:"encryption,omitempty" json:"encryption,omitempty"`
	// SizeLimit ("500GiB", "2TB") is how big the repository may grow: a
	// backup or cleanup that leaves it bigger opens an incident. Empty:
	// no limit.
	SizeLimit string `yaml:"size_limit,omitempty" json:"size_limit,omitempty"`
	// Offsite says the storage is away from the primary site (another
	// building, another provider) for the 3-2-1 rule; an s3, aws or azure
	// storage counts as off-site whatever this says.
	Offsite bool `yaml:"offsite,omitempty" json:"offsite,omitempty"`
	// Retention, when set, is the retention policy of every backup on this
	// storage (a copy storage may keep more, or less, than the primary):
	// it replaces the target's, the schedules' and the default policy here.
	Retention *retention.Policy `yaml:"retention,omitempty" json:"retention,omitempty"`
}

// Encryption values a Spec may name.
const (
	EncryptionAES  = "aes-256-gcm"
	EncryptionNone = "none"
)

// Plaintext reports whether the storage is configured with encryption: none.
func (s Spec) Plaintext() bool { return s.Encryption == EncryptionNone }

// IsSMB reports whether the storage is an SMB share reached directly: a
// network storage whose path is an smb:// URL or a UNC path.
func (s Spec) IsSMB() bool {
	return s.Type == KindNetwork && smb.IsSMBPath(s.Path)
}

// Media kinds, for the 3-2-1 rule: copies on different kinds of media fail
// for different reasons.
const (
	MediaLocal   = "local disk"
	MediaNetwork = "network"
	MediaObject  = "object storage"
)

// Media is the kind of media the storage keeps its repository on.
func (s Spec) Media() string {
	switch s.Type {
	case KindNetwork:
		return MediaNetwork
	case KindS3, KindAWS, KindAzure:
		return MediaObject
	}
	return MediaLocal
}

// IsOffsite reports whether the storage counts as off-site: marked
// `offsite: true`, or any cloud storage.
func (s Spec) IsOffsite() bool { return s.Offsite || s.Media() == MediaObject }

// IsRemote reports whether the storage is off this machine (list --storage remote).
func (s Spec) IsRemote() bool {
	switch s.Type {
	case KindLocal, KindNetwork, "":
		return false
	}
	return true
}
