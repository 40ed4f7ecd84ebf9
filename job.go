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
