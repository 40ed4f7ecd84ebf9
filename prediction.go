package blobmark

import (
	"context"
	"encoding/json"
)

// PredictionFilter selects predictions: those of one task, or of one
// project; zero fields do not filter, but one of them must be set.
type PredictionFilter struct {
	TaskID    int64
	ProjectID int64
}

// PredictionUpdate holds the fields a PATCH may change; nil means
// unchanged. ClearScore sets the score to null.
type PredictionUpdate struct {
	Result       json.RawMessage
	Score        *float64
	ClearScore   bool
	ModelVersion *string
}

// PredictionService manages a model's predictions and keeps their task's
// and project's counters (total_predictions) right in the same transaction
// as the write. Imports and storage syncs create predictions too, through
// TaskService.
type PredictionService interface {
	// CreatePredictions stores predictions on tasks of project projectID
	// (filling ID, ProjectID and timestamps) in one transaction: all or
	// none. A task of another project, or no task, is an error naming the
	// prediction's index.
	CreatePredictions(ctx context.Context, projectID int64, preds []*Prediction) error
	// FindPredictionByID returns a prediction, ENOTFOUND otherwise.
	FindPredictionByID(ctx context.Context, id int64) (*Prediction, error)
	// FindPredictions returns the predictions f selects, in task and id
	// order.
	FindPredictions(ctx context.Context, f PredictionFilter) ([]*Prediction, error)
	// UpdatePrediction applies upd and returns the updated prediction.
	UpdatePrediction(ctx context.Context, id int64, upd PredictionUpdate) (*Prediction, error)
	// DeletePrediction deletes a prediction.
	DeletePrediction(ctx context.Context, id int64) error
}
