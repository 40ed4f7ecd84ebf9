package blobmark

import (
	"context"
	"time"
)

// Project is a labeling project: a label config and the tasks labeled with it.
// JSON names follow Label Studio's project serializer.
type Project struct {
	ID                    int64  `json:"id"`
	Title                 string `json:"title"`
	Description           string `json:"description"`
	LabelConfig           string `json:"label_config"`
	ExpertInstruction     string `json:"expert_instruction"`
	ShowInstruction       bool   `json:"show_instruction"`
	ShowSkipButton        bool   `json:"show_skip_button"`
	EnableEmptyAnnotation bool   `json:"enable_empty_annotation"`
	Color                 string `json:"color"`
	MaximumAnnotations    int    `json:"maximum_annotations"`
	IsPublished           bool   `json:"is_published"`

	// Sampling, SkipQueue and CustomTaskLockTTL (seconds) decide how the
	// label stream hands tasks out (LabelStreamService); ModelVersion names
	// the predictions shown to annotators ("" for all of them).
	Sampling          Sampling  `json:"sampling"`
	SkipQueue         SkipQueue `json:"skip_queue"`
	CustomTaskLockTTL int       `json:"custom_task_lock_ttl"`
	ModelVersion      string    `json:"model_version"`
	CreatedBy         int64     `json:"created_by"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`

	// OrganizationID is the organization that owns the project: that of
	// its creator, fixed at creation.
	OrganizationID int64 `json:"organization"`

	// Counters are derived on read, never written by clients.
	TaskNumber              int `json:"task_number"`
	TotalAnnotationsNumber  int `json:"total_annotations_number"`
	TotalPredictionsNumber  int `json:"total_predictions_number"`
	NumTasksWithAnnotations int `json:"num_tasks_with_annotations"`
}

// ProjectUpdate holds the fields a PATCH may change; nil means unchanged.
type ProjectUpdate struct {
	Title                 *string    `json:"title"`
	Description           *string    `json:"description"`
	LabelConfig           *string    `json:"label_config"`
	ExpertInstruction     *string    `json:"expert_instruction"`
	ShowInstruction       *bool      `json:"show_instruction"`
	ShowSkipButton        *bool      `json:"show_skip_button"`
	EnableEmptyAnnotation *bool      `json:"enable_empty_annotation"`
	Color                 *string    `json:"color"`
	MaximumAnnotations    *int       `json:"maximum_annotations"`
	IsPublished           *bool      `json:"is_published"`
	Sampling              *Sampling  `json:"sampling"`
	SkipQueue             *SkipQueue `json:"skip_queue"`
	CustomTaskLockTTL     *int       `json:"custom_task_lock_ttl"`
	ModelVersion          *string    `json:"model_version"`
}

// ProjectService manages projects.
type ProjectService interface {
	// CreateProject stores p, filling ID, CreatedBy (from ctx), OrganizationID
	// (the creator's organization, the default one without a user) and
	// timestamps.
	CreateProject(ctx context.Context, p *Project) error
	// FindProjectByID returns a project with its counters, ENOTFOUND otherwise.
	FindProjectByID(ctx context.Context, id int64) (*Project, error)
	// FindProjects returns one page of projects, newest first, and the total
	// count: those of the organization of the user in ctx, or every project
	// when ctx carries no user (jobs, commands).
	FindProjects(ctx context.Context, page Page) ([]*Project, int, error)
	// UpdateProject applies upd and returns the updated project.
	UpdateProject(ctx context.Context, id int64, upd ProjectUpdate) (*Project, error)
	// DeleteProject hides the project at once and enqueues, in the same
	// transaction, a job that purges its tasks and annotations in batches.
	DeleteProject(ctx context.Context, id int64) error
}
