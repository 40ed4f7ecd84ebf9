package blobmark

import (
	"context"
	"io"
)

// TargetStorageTypes are the target storage types the API serves, by the
// path segment Label Studio uses: "azure" (account key, SAS, connection
// string, identities) and "azure_spi" (the service-principal flavour).
var TargetStorageTypes = []string{"azure", "azure_spi"}

// TargetStorageFilter selects target storages; zero fields match all.
type TargetStorageFilter struct {
	ProjectID int64
	Type      string
}

// TargetStorageService keeps a project's export storages and starts their
// syncs. Writes that start work (create with an initial sync, sync) enqueue
// the job in the same transaction as the storage write, so a sync is never
// reported queued without a job behind it.
type TargetStorageService interface {
	// CreateTargetStorage stores s, filling ID, State and timestamps. With
	// initialSync it also queues a full export of the project's existing
	// annotations (Label Studio's default on creation).
	CreateTargetStorage(ctx context.Context, s *TargetStorage, initialSync bool) error
	// FindTargetStorageByID returns a storage without its secrets (Secrets
	// is nil), ENOTFOUND otherwise.
	FindTargetStorageByID(ctx context.Context, id int64) (*TargetStorage, error)
	// FindTargetStorageWithSecrets returns a storage with its secrets
	// opened, for the paths that use its credential (the API must never
	// echo them).
	FindTargetStorageWithSecrets(ctx context.Context, id int64) (*TargetStorage, error)
	// FindTargetStorages returns the storages f selects, in id order,
	// without their secrets.
	FindTargetStorages(ctx context.Context, f TargetStorageFilter) ([]*TargetStorage, error)
	// UpdateTargetStorage replaces the settings of storage s.ID (everything
	// but ID, ProjectID, Type, State and CreatedAt, so secrets too: s must
	// come from FindTargetStorageWithSecrets to keep them) and returns it as
	// stored, without its secrets.
	UpdateTargetStorage(ctx context.Context, s *TargetStorage) (*TargetStorage, error)
	// DeleteTargetStorage deletes a storage and its export links; objects
	// already written stay in the container.
	DeleteTargetStorage(ctx context.Context, id int64) error
	// SyncTargetStorage marks the storage queued and enqueues an export of
	// every annotation of its project (only those whose latest version is
	// not yet exported, with onlyNew), and returns the storage.
	SyncTargetStorage(ctx context.Context, id int64, onlyNew bool) (*TargetStorage, error)
	// PreviewTargetKeys checks s's settings as a save would (EINVALID
	// naming the field) and renders its object and dataset keys on a real
	// task of its project: taskID, or when 0 the project's first
	// annotated task (its first task when none is annotated).
	PreviewTargetKeys(ctx context.Context, s *TargetStorage, taskID int64) (*KeyPreview, error)
}

// KeyPreview is what a target storage's key templates give on one task.
type KeyPreview struct {
	// TaskID and AnnotationID are what ObjectKey was rendered on; 0 when
	// the project has no task (or the task no annotation) yet.
	TaskID       int64 `json:"task"`
	AnnotationID int64 `json:"annotation"`
	// ObjectKey is the object the task (or annotation) is exported to;
	// ObjectKeyError, instead, why the task cannot fill the template.
	ObjectKey      string `json:"object_key"`
	ObjectKeyError string `json:"object_key_error,omitempty"`
	// DatasetKey is the dataset export's object, "" without a dataset
	// format.
	DatasetKey string `json:"dataset_key"`
}

// ProjectExporter writes a project's export.
type ProjectExporter interface {
	// ExportProject writes the project's tasks that filter selects, with
	// their annotations, in the export format named format (Label
	// Studio's export_type: JSON, COCO, ...) to w while it reads them,
	// page by page. An error can come after part of the output was
	// written.
	ExportProject(ctx context.Context, projectID int64, format string, filter ExportFilter, w io.Writer) error
}

// ExportFilter selects the tasks of a project export, as Label Studio's
// download parameters and snapshot filters do. A snapshot keeps it as
// JSON, hence the tags.
type ExportFilter struct {
	// AllTasks includes tasks without annotations (download_all_tasks);
	// by default only tasks with at least one annotation, cancelled ones
	// included, are exported.
	AllTasks bool `json:"all_tasks,omitempty"`
	// IDs, when not empty, limits the export to these tasks (ids).
	IDs []int64 `json:"ids,omitempty"`
	// View, when not 0, keeps the tasks the filters of that Data Manager
	// view select (task_filter_options.view); exports stay in id order.
	View int64 `json:"view,omitempty"`
	// Annotated, Finished and Skipped keep ("only") or drop ("exclude")
	// tasks with a submitted annotation, labeled tasks and tasks with a
	// skipped annotation; "" keeps both (task_filter_options).
	Annotated string `json:"annotated,omitempty"`
	Finished  string `json:"finished,omitempty"`
	Skipped   string `json:"skipped,omitempty"`
	// AnnotationKinds, when not empty, keeps only the annotations of these
	// kinds: "usual" (neither skipped nor ground truth), "ground_truth",
	// "skipped" (annotation_filter_options, a union as in Label Studio).
	AnnotationKinds []string `json:"annotation_kinds,omitempty"`
}
