package importer

import (
	"context"
	"io"
	"time"

	"github.com/blobmark/blobmark"
)

// Object is one listed blob: what the engine needs to decide whether it
// becomes a task, and to notice later that it changed.
type Object struct {
	// Key is the full blob name, prefix included.
	Key string
	// Size is the blob's length in bytes.
	Size int64
	// ETag is the blob's ETag as the service returns it (quotes included or
	// not, as long as the adapter is consistent).
	ETag string
	// LastModified is the blob's last write time.
	LastModified time.Time
	// Folder marks a directory placeholder (hdi_isfolder metadata), which is
	// never a task.
	Folder bool
	// Metadata and Tags are the blob's metadata and index tags, when the
	// request asked for them (nil otherwise).
	Metadata map[string]string
	Tags     map[string]string
}

// ListRequest asks a Lister for one page of a listing.
type ListRequest struct {
	// Prefix is the normalised prefix ("" or ending in "/").
	Prefix string
	// Recursive lists every depth; false lists with delimiter "/" and
	// returns only the blobs directly under Prefix (no virtual directories).
	Recursive bool
	// Marker is the previous page's NextMarker, "" for the first page.
	Marker string
	// MaxResults is the page size wanted (Azure caps it at 5000).
	MaxResults int
	// Metadata and Tags ask for each blob's metadata and index tags.
	Metadata, Tags bool
	// TagFilter, when not "", lists the blobs whose index tags match this
	// expression (Find Blobs by Tags) instead: Prefix and Recursive are
	// then left to the engine, and objects carry only Key and the
	// matching Tags (no size, no ETag).
	TagFilter string
}

// Listing is one page of a listing, in key order.
type Listing struct {
	// Objects are the page's blobs; a page may be empty and still have a
	// NextMarker (hierarchical listings skip virtual directories).
	Objects []Object
	// NextMarker continues the listing; "" means this was the last page.
	NextMarker string
}

// Lister lists a container one page at a time, so the engine never holds
// more than a page of keys. The Azure connector adapts a container client
// to it (one NewListBlobsFlatPager or NewListBlobsHierarchyPager call with
// the marker per page). It is called from one goroutine at a time.
type Lister interface {
	// List returns the page of req. Errors abort the sync (listing must be
	// complete for deletion reconcile to be right).
	List(ctx context.Context, req ListRequest) (Listing, error)
}

// Download is an open blob being read.
type Download struct {
	// Body streams the content; the engine closes it.
	Body io.ReadCloser
	// ETag is the ETag of the content actually being read ("" if unknown);
	// it wins over the listed one, so a blob rewritten between listing and
	// download is recorded with the version that was imported.
	ETag string
	// Size is the content length, or -1 if unknown.
	Size int64
}

// Opener streams one blob's content for Tasks mode. It is called from
// several goroutines at once (Source.Concurrency).
//
// Errors decide what happens to the sync, by blobmark.DecideItem: one it
// drops (ENOTFOUND, ECONFLICT, EINVALID, ETOOLARGE, ENOTIMPLEMENTED) is a
// problem of that one blob (deleted meanwhile, archived tier, …): it is
// recorded and the sync goes on. Anything else (EUNAUTHORIZED, EFORBIDDEN,
// EUNAVAILABLE, errors without a code) aborts the sync so the job can fail
// or retry as a whole; what was committed stays and the retry skips it.
type Opener interface {
	// Open starts reading key.
	Open(ctx context.Context, key string) (Download, error)
}

// Container is a source storage's container as a sync reads it: listed
// page by page and, in Tasks mode, read blob by blob. The Azure connector
// opens it for a stored storage (azureblob.SourceOpener).
type Container interface {
	Lister
	Opener
}

// Link is what the store remembers of one key of a storage: the blob
// version it imported and the tasks (one per row) it created from it.
type Link struct {
	// Key is the blob name.
	Key string
	// ETag is the blob version last imported (the same on every row).
	ETag string
	// Size is the blob's size in that version.
	Size int64
	// Rows are the key's link rows in Row order.
	Rows []LinkRow
}

// LinkRow is one task created from a key.
type LinkRow struct {
	// Row is the task's position in its file: 0 for Files mode and for a
	// single-object file, the array index or JSONL task ordinal otherwise.
	Row int
	// TaskID is the task the row created.
	TaskID int64
	// Annotated is true when the task has at least one annotation
	// (cancelled ones included): such a task is never rewritten or deleted.
	Annotated bool
	// Missing is true when the task is marked as having lost its blob.
	Missing bool
}

// NewTask is a task to create with its link row.
type NewTask struct {
	Key  string               // Key is the blob the task comes from.
	Row  int                  // Row is the task's position in its file (see LinkRow.Row).
	ETag string               // ETag is the blob version imported.
	Size int64                // Size is the blob's size in that version.
	Task *blobmark.TaskImport // Task is the task with its annotations and predictions.
}

// TaskRewrite replaces the data of an existing, unannotated task from a
// changed task file.
type TaskRewrite struct {
	TaskID int64                // TaskID is the task to rewrite.
	Key    string               // Key is its blob, for logs and reports.
	Row    int                  // Row is its position in the file.
	Task   *blobmark.TaskImport // Task is the row's new content.
}

// LinkVersion records the blob version a key's link rows now reflect.
type LinkVersion struct {
	Key  string // Key is the blob.
	ETag string // ETag is the version now imported.
	Size int64  // Size is that version's size.
}

// Batch is everything one step of a sync writes. A Sink applies a Batch in
// ONE transaction: all of it or nothing. Its entries never conflict with
// each other, so the order of application inside the transaction is free.
// All rows of one task file are always in the same Batch.
type Batch struct {
	// Generation is the sync's generation, stamped on created and Seen links.
	Generation int64
	// Create adds a task (with its annotations and predictions) and its link
	// row (storage, Key, Row) carrying ETag, Size and Generation. If that
	// link row already exists the entry is skipped, not duplicated: this is
	// what makes a retried page idempotent. The link's uniqueness on
	// (storage, key, row) is the guard (INSERT … ON CONFLICT DO NOTHING).
	Create []NewTask
	// Update sets Data and Meta of TaskID from Task — only if the task still
	// has no annotation when the transaction runs; otherwise it is left
	// unchanged and counted in BatchResult.Kept. Task.Predictions, when not
	// nil, replace the task's predictions; Task.Annotations are added.
	Update []TaskRewrite
	// Versions set ETag and Size on every link row of Key.
	Versions []LinkVersion
	// Seen sets Generation on every link row of each key (only sent when the
	// source reconciles deletions).
	Seen []string
	// Restore clears the missing mark of these tasks: their blob is back.
	Restore []int64
	// MarkMissing marks these (annotated) tasks as having lost their blob;
	// the mark is visible in the task API and the task is kept.
	MarkMissing []int64
	// Remove deletes these tasks with their link rows, annotations and
	// predictions — unless a task has gained an annotation by the time the
	// transaction runs, in which case it is marked missing instead.
	Remove []int64
}

// empty reports whether b writes nothing, so no transaction is opened for it.
func (b *Batch) empty() bool {
	return len(b.Create) == 0 && len(b.Update) == 0 && len(b.Versions) == 0 && len(b.Seen) == 0 &&
		len(b.Restore) == 0 && len(b.MarkMissing) == 0 && len(b.Remove) == 0
}

// tasks counts the task rows b creates or rewrites, the measure of its size.
func (b *Batch) tasks() int { return len(b.Create) + len(b.Update) }

// BatchResult counts what a WriteBatch actually did, which can be less than
// asked (a link that already existed, a task annotated meanwhile); progress
// is counted from it so totals stay exact across retries.
type BatchResult struct {
	Created  int // tasks created
	Updated  int // tasks rewritten
	Kept     int // rewrites skipped because the task had been annotated meanwhile
	Restored int // missing marks cleared
	Marked   int // tasks marked missing (MarkMissing, plus Remove entries that were annotated)
	Removed  int // tasks deleted
}

// Sink is the store side of a sync. The SQL store implements it; every
// method takes the storage id so one Sink serves every storage.
type Sink interface {
	// ExistingLinks returns the links of the given keys (at most one page of
	// them) that exist for the storage, keyed by key; keys without any link
	// row are absent from the map.
	ExistingLinks(ctx context.Context, storageID int64, keys []string) (map[string]*Link, error)
	// WriteBatch applies b in one transaction (see Batch for each entry's
	// exact meaning). On error nothing of b is applied.
	WriteBatch(ctx context.Context, storageID int64, b *Batch) (BatchResult, error)
	// StaleLinks returns, in key order, the links of up to limit keys that
	// sort after after and whose generation is older than generation, each
	// with all its rows. The engine calls it only after a complete listing,
	// page by page, to find blobs that have disappeared.
	StaleLinks(ctx context.Context, storageID, generation int64, after string, limit int) ([]*Link, error)
}
