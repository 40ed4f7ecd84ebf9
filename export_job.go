package blobmark

// ExportAnnotationJob brings one annotation's object in one target storage
// up to date with the annotation as it is when the job runs (written, or
// deleted when the annotation is gone). TaskID travels with the job because
// a deleted annotation can no longer name the task file it belongs to.
type ExportAnnotationJob struct {
	StorageID    int64 `json:"storage_id" river:"unique"`
	AnnotationID int64 `json:"annotation_id" river:"unique"`
	TaskID       int64 `json:"task_id" river:"unique"`
}

// Kind names the job type in the queue.
func (ExportAnnotationJob) Kind() string { return "export_annotation" }

// ExportSyncJob exports every annotation of a target storage's project (the
// manual sync, and the initial export when a storage is created), or with
// OnlyNew only those whose latest version is not exported yet.
type ExportSyncJob struct {
	StorageID int64 `json:"storage_id" river:"unique"`
	OnlyNew   bool  `json:"only_new"`
}

// Kind names the job type in the queue.
func (ExportSyncJob) Kind() string { return "export_sync" }

// ExportDatasetJob writes a target storage's dataset export: the whole
// project in the storage's DatasetFormat, as one object.
type ExportDatasetJob struct {
	StorageID int64 `json:"storage_id" river:"unique"`
}

// Kind names the job type in the queue.
func (ExportDatasetJob) Kind() string { return "export_dataset" }
