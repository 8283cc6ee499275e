// Package storage holds the backup engine and its backends. This root
// package names a storage as the configuration describes it (Spec) and
// opens the matching backend; the engine lives in its sub-packages.
package storage

// Kinds of storage a Spec can name.
const (
	KindLocal   = "local"   // a directory on this machine
	KindNetwork = "network" // a mounted SMB/NFS path; behaves like local
	KindS3      = "s3"      // Amazon S3 or an S3-compatible server
	KindAWS     = "aws"     // the same as s3
	KindAzure   = "azure"   // Azure Blob Storage (or Azurite)
)

// Spec describes one named storage from the configuration file. Secrets are
// never part of it: they come from the environment (AWS_*, the Azure SDK's
// variables, AZURE_STORAGE_CONNECTION_STRING) or from files named here.
type Spec struct {
	Type string `yaml:"type" json:"type"`
	// Path is the repository directory for local and network storages.
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
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
}

// Encryption values a Spec may name.
const (
	EncryptionAES  = "aes-256-gcm"
	EncryptionNone = "none"
)

// Plaintext reports whether the storage is configured with encryption: none.
func (s Spec) Plaintext() bool { return s.Encryption == EncryptionNone }

// IsRemote reports whether the storage is off this machine (list --storage remote).
func (s Spec) IsRemote() bool {
	switch s.Type {
	case KindLocal, KindNetwork, "":
		return false
	}
	return true
}
