package blobmark

import (
	"context"
	"encoding/json"
	"iter"
	"time"
)

// UndefinedDataKey is Label Studio's placeholder data key for tasks imported
// before the label config names one; it is returned under the config's first
// data key on read.
const UndefinedDataKey = "$undefined$"

// Task is one item to label. Data is the task's JSON object as imported.
type Task struct {
	ID                   int64           `json:"id"`
	ProjectID            int64           `json:"project"`
	Data                 json.RawMessage `json:"data"`
	Meta                 json.RawMessage `json:"meta"`
	IsLabeled            bool            `json:"is_labeled"`
	TotalAnnotations     int             `json:"total_annotations"`
	CancelledAnnotations int             `json:"cancelled_annotations"`
	TotalPredictions     int             `json:"total_predictions"`
	InnerID              int64           `json:"inner_id"`
	CreatedAt            time.Time       `json:"created_at"`
	UpdatedAt            time.Time       `json:"updated_at"`
	// BlobMissing marks an annotated task whose source blob has disappeared
	// (a blobmark extension): the task and its annotations are kept.
	BlobMissing bool `json:"blob_missing,omitempty"`
	// StorageFilename is the blob key of the source storage file the task
	// came from; "" for a task imported through the API.
	StorageFilename string `json:"storage_filename,omitempty"`
}

// TaskImport is one task of an import: its data and, optionally, the
// annotations and predictions that come with it.
type TaskImport struct {
	Data        json.RawMessage
	Meta        json.RawMessage
	Annotations []*Annotation
	Predictions []*Prediction
}

// TaskStream yields tasks as an import stream (TaskService.ImportTaskStream)
// that never fails, for an import held in memory.
func TaskStream(tasks []*TaskImport) iter.Seq2[*TaskImport, error] {
	return func(yield func(*TaskImport, error) bool) {
		for _, t := range tasks {
			if !yield(t, nil) {
				return
			}
		}
	}
}

// ImportResult counts what an import created.
type ImportResult struct {
	TaskCount       int     `json:"task_count"`
	AnnotationCount int     `json:"annotation_count"`
	PredictionCount int     `json:"prediction_count"`
	TaskIDs         []int64 `json:"task_ids,omitempty"`
}

// TaskFilter selects tasks of one project.
type TaskFilter struct {
	ProjectID int64
	// Query filters, orders and selects the tasks (the Data Manager's
	// query); nil lists them all in id order.
	Query *TaskQuery
	Page
}

// TaskList is one page of tasks with the project-wide totals Label Studio
// returns beside it.
type TaskList struct {
	Tasks            []*Task
	Total            int
	TotalAnnotations int
	TotalPredictions int
}

// TaskUpdate holds the fields a PATCH may change; nil means unchanged.
type TaskUpdate struct {
	Data json.RawMessage
	Meta json.RawMessage
}

// TaskService manages tasks.
type TaskService interface {
	// ImportTasks stores all tasks with their annotations and predictions in
	// one transaction: either every task is created or none is.
	ImportTasks(ctx context.Context, projectID int64, tasks []*TaskImport) (*ImportResult, error)
	// ImportTaskStream does what ImportTasks does for tasks that arrive one
	// at a time, as an import is read: it writes them in batches as they
	// come, still in one transaction, so memory holds a batch rather than
	// the import. An error yielded by tasks rolls everything back and is
	// returned as it is.
	ImportTaskStream(ctx context.Context, projectID int64, tasks iter.Seq2[*TaskImport, error]) (*ImportResult, error)
	// FindTaskByID returns a task, ENOTFOUND otherwise.
	FindTaskByID(ctx context.Context, id int64) (*Task, error)
	// FindTasks returns a page of a project's tasks, in id order or the
	// query's, with the totals of the tasks the query selects.
	FindTasks(ctx context.Context, f TaskFilter) (*TaskList, error)
	// UpdateTask applies upd and returns the updated task.
	UpdateTask(ctx context.Context, id int64, upd TaskUpdate) (*Task, error)
	// DeleteTask deletes a task with its annotations and predictions.
	DeleteTask(ctx context.Context, id int64) error
}
