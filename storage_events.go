package blobmark

import (
	"context"
	"time"
)

// BlobEvent is one blob change reported by Azure Event Grid, pushed to
// blobmark's webhook or read from a storage queue.
type BlobEvent struct {
	// ID is the event's id; a redelivered event has the same one.
	ID string
	// Container is the container the blob is in.
	Container string
	// Key is the blob name inside Container. A Key ending in "/" names a
	// directory of a hierarchical namespace (Data Lake Storage Gen2), deleted
	// or renamed with everything under it; no file's name ends so there.
	Key string
	// Deleted is true when Key is gone (BlobDeleted, DirectoryDeleted, the
	// source of a rename), false when it was written (BlobCreated, the
	// destination of a rename).
	Deleted bool
	// ETag and Size describe the created blob version ("" and 0 if unknown).
	ETag string
	Size int64
	// Order sorts the events of one key (see importer.OrderKey).
	Order string
	// Time is the event's time.
	Time time.Time
}

// StorageEvents is a source storage's event-driven sync: whether it takes
// pushed events, the queue it polls, and its counters.
type StorageEvents struct {
	StorageID int64
	// Enabled is true when the storage accepts events.
	Enabled bool
	// Token is the push secret; set only in the answer to the request that
	// created or rotated it (the store keeps a hash).
	Token string
	// QueueName is the Azure storage queue polled for events ("" for none).
	QueueName string
	// Received counts events accepted; Applied those that changed or
	// confirmed the key's state; Ignored the stale and out-of-scope ones.
	Received, Applied, Ignored int64
	// LastEventAt is when the last event was received.
	LastEventAt *time.Time
}

// StorageEventService keeps the event settings of source storages and
// accepts pushed events.
type StorageEventService interface {
	// FindStorageEvents returns the storage's event settings (Enabled false
	// when events were never enabled).
	FindStorageEvents(ctx context.Context, storageID int64) (*StorageEvents, error)
	// ConfigureStorageEvents enables or disables events; a new push token is
	// generated when events are first enabled or rotate is set, and
	// returned once. queueName, when not nil, replaces the polled queue.
	ConfigureStorageEvents(ctx context.Context, storageID int64, enabled, rotate bool, queueName *string) (*StorageEvents, error)
	// CheckStorageEventsToken returns an EUNAUTHORIZED error unless events
	// are enabled for the storage and token is its push token.
	CheckStorageEventsToken(ctx context.Context, storageID int64, token string) error
	// AcceptStorageEvents persists events for the storage and enqueues
	// their processing in the same transaction; it returns once they are
	// committed.
	AcceptStorageEvents(ctx context.Context, storageID int64, events []BlobEvent) error
}

// ProcessStorageEventsJob applies a storage's persisted pushed events.
type ProcessStorageEventsJob struct {
	StorageID int64 `json:"storage_id" river:"unique"`
	// Slot tells apart the few jobs of one storage that may exist at once:
	// one waiting beside one still running, so an event committed while a
	// job finishes is not left to the sweep. The workers take turns through
	// a lease, never applying a storage's events concurrently.
	Slot int `json:"slot,omitempty" river:"unique"`
}

// Kind names the job type in the queue.
func (ProcessStorageEventsJob) Kind() string { return "process_storage_events" }

// PollStorageQueueJob reads a storage's event queue until it is empty.
type PollStorageQueueJob struct {
	StorageID int64 `json:"storage_id" river:"unique"`
}

// Kind names the job type in the queue.
func (PollStorageQueueJob) Kind() string { return "poll_storage_queue" }

// SweepStorageEventsJob enqueues the processing of every storage with
// pending pushed events and the poll of every storage with a queue. It
// runs as a periodic job on the elected leader.
type SweepStorageEventsJob struct{}

// Kind names the job type in the queue.
func (SweepStorageEventsJob) Kind() string { return "sweep_storage_events" }
