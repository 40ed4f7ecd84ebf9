package blobmark

// PurgeProjectJob removes a deleted project's rows in batches, so deleting a
// project of a million tasks answers at once and never holds a long lock.
// It satisfies the job queue's args interface (a Kind method), which keeps
// the domain free of the queue's import.
type PurgeProjectJob struct {
	ProjectID int64 `json:"project_id"`
}

// Kind names the job type in the queue.
func (PurgeProjectJob) Kind() string { return "purge_project" }

// IndexDataFieldsJob builds the database indexes that make the Data
// Manager's filters and sorts on task data fields fast, for the keys a saved
// view uses. Building one reads every task, so it runs as a job, not in the
// request that saved the view.
type IndexDataFieldsJob struct {
	// Keys are the data keys to index; none means every saved view's (the
	// periodic run, which also indexes views saved by older versions).
	Keys []string `json:"keys,omitempty"`
}

// Kind names the job type in the queue.
func (IndexDataFieldsJob) Kind() string { return "index_data_fields" }
