package blobmark

import (
	"context"
	"io"
	"time"
)

// MediaLocation is where one import storage of a project reads blobs from,
// as the media resolver needs it: the storage account and its blob service
// URL (to recognise blob URLs in task data and to match a URI to a storage
// by account and container), the container and prefix, and how the storage
// wants its media delivered.
type MediaLocation struct {
	StorageID int64
	// Account is the storage account's name.
	Account string
	// ServiceURL is the account's blob service URL, ending in "/"
	// (https://acct.blob.core.windows.net/, or a custom endpoint).
	ServiceURL string
	Container  string
	Prefix     string
	// Presign is the storage's presign flag; PresignTTL its SAS lifetime in
	// minutes (0: the default).
	Presign    bool
	PresignTTL int
	// CanSign reports whether the storage's credential can mint SAS URLs
	// (an account key or an Entra ID identity); SAS-token and anonymous
	// storages cannot, and their media is streamed.
	CanSign bool
}

// MediaBlobInfo is what the media proxy must know of a blob before it sends
// a byte: its size, validators and stored content type.
type MediaBlobInfo struct {
	Size         int64
	ETag         string
	LastModified time.Time
	ContentType  string
}

// MediaBlob is one blob as the media proxy reads it.
type MediaBlob interface {
	// Properties returns the blob's current properties (ENOTFOUND when it
	// does not exist), for HEAD requests.
	Properties(ctx context.Context) (MediaBlobInfo, error)
	// Open reads count bytes from offset (count -1: to the end) and returns
	// the whole blob's properties read from the same response, so that a
	// proxied GET costs one request to the storage. An offset at or past the
	// end gives an empty body, and may give only the Size: a storage that
	// refuses such a range (Azure answers 416) sends no validators or
	// content type. The read stops when ctx ends.
	Open(ctx context.Context, offset, count int64) (MediaBlobInfo, io.ReadCloser, error)
}

// MediaResolver gives the HTTP layer access to the blobs of a project's
// import storages, for the /tasks/{id}/resolve/ and /projects/{id}/resolve/
// endpoints and for rewriting URIs in task data. It decides nothing about
// who may read what: callers authorise first and name a storage from the
// project's own MediaLocations.
type MediaResolver interface {
	// MediaLocations returns the locations of the project's import storages
	// that can be connected to, in storage id order. Implementations may
	// cache them for a few seconds.
	MediaLocations(ctx context.Context, projectID int64) ([]MediaLocation, error)
	// TaskSourceStorage returns the id of the import storage a task was
	// synced from, or 0 when it was imported otherwise.
	TaskSourceStorage(ctx context.Context, taskID int64) (int64, error)
	// SignMediaURL returns a read-only SAS URL for one blob of a storage,
	// valid for ttl; ENOTIMPLEMENTED when the storage's credential cannot sign.
	SignMediaURL(ctx context.Context, storageID int64, container, key string, ttl time.Duration) (string, error)
	// OpenMedia returns one blob of a storage for streaming. It contacts
	// nothing until the blob is read.
	OpenMedia(ctx context.Context, storageID int64, container, key string) (MediaBlob, error)
}

// TaskSourceFinder reports which import storage created a task.
type TaskSourceFinder interface {
	// TaskSourceStorageID returns the id of the import storage that synced
	// the task, the lowest when several did, and 0 when none did.
	TaskSourceStorageID(ctx context.Context, taskID int64) (int64, error)
}

// ProjectAuthorizer decides whether a user may see a project (its tasks,
// annotations, storages and their media). Servers without one give every
// signed-in user access to every project, as a single Label Studio
// organisation does. The SQL store's implementation grants a project to the
// members of its organization.
type ProjectAuthorizer interface {
	// CanAccessProject reports whether user may read and change project
	// projectID; false for a project that does not exist.
	CanAccessProject(ctx context.Context, user *User, projectID int64) (bool, error)
}
