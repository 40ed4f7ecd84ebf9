package blobmark

import (
	"context"
	"encoding/json"
	"time"
)

// Annotation is one person's labels for a task. Result is Label Studio's
// region list, kept verbatim.
type Annotation struct {
	ID           int64           `json:"id"`
	TaskID       int64           `json:"task"`
	ProjectID    int64           `json:"project"`
	Result       json.RawMessage `json:"result"`
	WasCancelled bool            `json:"was_cancelled"`
	GroundTruth  bool            `json:"ground_truth"`
	LeadTime     float64         `json:"lead_time"`
	CompletedBy  int64           `json:"completed_by"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
}

// AnnotationUpdate holds the fields a PATCH may change; nil means unchanged.
type AnnotationUpdate struct {
	Result       json.RawMessage
	WasCancelled *bool
	GroundTruth  *bool
	LeadTime     *float64
}

// Prediction is a model's suggested labels for a task.
type Prediction struct {
	ID           int64           `json:"id"`
	TaskID       int64           `json:"task"`
	ProjectID    int64           `json:"project"`
	Result       json.RawMessage `json:"result"`
	Score        *float64        `json:"score"`
	ModelVersion string          `json:"model_version"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
}

// AnnotationService manages annotations and keeps their task's counters
// (total_annotations, cancelled_annotations, is_labeled) right in the same
// transaction as the write.
type AnnotationService interface {
	// CreateAnnotation stores a on task a.TaskID, filling ID, ProjectID,
	// CompletedBy (from ctx when zero) and timestamps.
	CreateAnnotation(ctx context.Context, a *Annotation) error
	// FindAnnotationByID returns an annotation, ENOTFOUND otherwise.
	FindAnnotationByID(ctx context.Context, id int64) (*Annotation, error)
	// FindAnnotations returns a task's annotations in id order.
	FindAnnotations(ctx context.Context, taskID int64) ([]*Annotation, error)
	// UpdateAnnotation applies upd and returns the updated annotation.
	UpdateAnnotation(ctx context.Context, id int64, upd AnnotationUpdate) (*Annotation, error)
	// DeleteAnnotation deletes an annotation.
	DeleteAnnotation(ctx context.Context, id int64) error
}
