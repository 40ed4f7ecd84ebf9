package blobmark

import (
	"context"
	"time"
)

// Storage types, as Label Studio's paths and type field name them.
const (
	StorageTypeAzure    = "azure"
	StorageTypeAzureSPI = "azure_spi"
)

// SourceStorageService stores source storages and their sync state.
type SourceStorageService interface {
	// CreateSourceStorage stores s (ID, State and times are set on it).
	CreateSourceStorage(ctx context.Context, s *SourceStorage) error
	// FindSourceStorageByID returns a storage without its secrets (Secrets
	// is nil), ENOTFOUND otherwise. Reads that do not use the credential
	// use it, so they never decrypt a secret, nor fail when it cannot be.
	FindSourceStorageByID(ctx context.Context, id int64) (*SourceStorage, error)
	// FindSourceStorageWithSecrets returns a storage with its secrets
	// opened, for the paths that use its credential.
	FindSourceStorageWithSecrets(ctx context.Context, id int64) (*SourceStorage, error)
	// FindSourceStorages returns a project's storages in id order, without
	// their secrets.
	FindSourceStorages(ctx context.Context, projectID int64) ([]*SourceStorage, error)
	// FindSourceStoragesWithSecrets returns a project's storages in id
	// order with their secrets opened.
	FindSourceStoragesWithSecrets(ctx context.Context, projectID int64) ([]*SourceStorage, error)
	// UpdateSourceStorage replaces the settings, connection and secrets of
	// s.ID with those of s (so s must come from FindSourceStorageWithSecrets
	// to keep them); the sync state is left alone.
	UpdateSourceStorage(ctx context.Context, s *SourceStorage) error
	// DeleteSourceStorage deletes a storage and its links; the tasks it
	// created stay in the project, as in Label Studio.
	DeleteSourceStorage(ctx context.Context, id int64) error
	// RequestSourceSync enqueues a sync of the storage and marks it queued,
	// in one transaction. A storage whose sync is queued or running is
	// returned as it is, without a second job.
	RequestSourceSync(ctx context.Context, id int64) (*SourceStorage, error)
	// CancelSourceSync asks the running or queued sync of a storage to stop;
	// the worker stops at its next progress report and marks it failed
	// with a traceback that says it was cancelled.
	CancelSourceSync(ctx context.Context, id int64) (*SourceStorage, error)
}

// StorageFile is one blob of a files preview.
type StorageFile struct {
	Key          string    `json:"key"`
	Size         int64     `json:"size"`
	LastModified time.Time `json:"last_modified"`
}

// StorageFileQuery selects the blobs of a files preview, with the settings
// a source storage would sync with.
type StorageFileQuery struct {
	// Organization is the title of the organization asking (see
	// SourceStorage.Organization).
	Organization  string
	Connection    Connection
	Secrets       Secrets
	Container     string
	Prefix        string
	RegexFilter   string
	RecursiveScan bool
	// TagFilter, when not "", previews the blobs Find Blobs by Tags
	// returns for it, which carry no size and no modification time.
	TagFilter string
	Limit     int
}

// StorageFileLister previews the blobs a source storage would import,
// before it is saved.
type StorageFileLister interface {
	// ListStorageFiles returns up to q.Limit in-scope blobs in key order.
	ListStorageFiles(ctx context.Context, q StorageFileQuery) ([]StorageFile, error)
}
