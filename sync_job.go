package blobmark

// SyncSourceJob imports one source storage: it lists the container and
// creates, updates or reconciles the storage's tasks. The store enqueues it
// when a sync is requested, in the same transaction that marks the storage
// queued, and the job queue keeps at most one unfinished job per storage
// and request.
type SyncSourceJob struct {
	StorageID int64 `json:"storage_id" river:"unique"`
	// Request numbers the storage's sync requests (meta.attempts): requests
	// that race for the same number enqueue one job, while a request made
	// after a sync finished gets a new number, and so a job, even before
	// the queue has marked the previous job completed.
	Request int64 `json:"request" river:"unique"`
}

// Kind names the job type in the queue.
func (SyncSourceJob) Kind() string { return "sync_source_storage" }

// ScheduleSourceSyncsJob enqueues the syncs of every source storage whose
// sync_interval_minutes has elapsed, and the dataset export of every
// target storage whose dataset_interval_minutes has (its kind predates
// the latter and is kept so queued jobs still run). It runs as a periodic
// job, which the queue elects one replica to insert, so each interval is
// run once however many replicas run.
type ScheduleSourceSyncsJob struct{}

// Kind names the job type in the queue.
func (ScheduleSourceSyncsJob) Kind() string { return "schedule_source_syncs" }

// SyncFilesJob imports one chunk of the task files a Tasks-mode sync
// listed (see importer.FanOut), so any replica's worker can read them.
type SyncFilesJob struct {
	ChunkID int64 `json:"chunk_id"`
}

// Kind names the job type in the queue.
func (SyncFilesJob) Kind() string { return "sync_source_files" }

// QueueSyncFiles is the queue SyncFilesJob runs on. It is apart from the
// default queue so that sync jobs waiting for their chunks can never hold
// every worker the chunks need.
const QueueSyncFiles = "sync_files"
