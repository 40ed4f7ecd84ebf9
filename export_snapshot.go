package blobmark

import (
	"context"
	"encoding/json"
	"io"
	"time"
)

// The statuses of an export snapshot and of each of its converted formats,
// Label Studio's names.
const (
	ExportCreated    = "created"
	ExportInProgress = "in_progress"
	ExportCompleted  = "completed"
	ExportFailed     = "failed"
)

// ExportJSON is the name of Label Studio's raw JSON export, the format
// every snapshot is stored in and the others are converted from.
const ExportJSON = "JSON"

// ExportSnapshot is a project export taken once and kept (Label Studio's
// export object): the tasks its filters selected, as Label Studio's JSON,
// plus the formats converted from that JSON on request. Downloads read
// the stored output; nothing is recomputed.
type ExportSnapshot struct {
	ID        int64
	ProjectID int64
	Title     string
	Status    string
	// CreatedBy is the user who asked for it; 0 once that user is gone.
	CreatedBy  int64
	CreatedAt  time.Time
	FinishedAt *time.Time
	// MD5 is the hex MD5 of the JSON output, "" until completed.
	MD5 string
	// Traceback says why the snapshot failed, "" unless it did.
	Traceback string
	// Counters are the tasks and annotations written so far:
	// {"task_number": …, "annotation_number": …}.
	Counters json.RawMessage
	// Filter selects the tasks and annotations; Options keeps the request's
	// task_filter_options, annotation_filter_options and
	// serialization_options as sent, for the API to echo.
	Filter  ExportFilter
	Options json.RawMessage
	// Converted lists the formats converted from the JSON, in request order.
	Converted []ConvertedFormat
}

// ConvertedFormat is one format of a snapshot and the state of its
// conversion.
type ConvertedFormat struct {
	ID         int64
	ExportType string
	Status     string
	Traceback  string
}

// ExportSnapshotService keeps export snapshots. Writes that start work
// enqueue the job in the same transaction, so a snapshot is never
// "created" without a job behind it.
type ExportSnapshotService interface {
	// CreateExportSnapshot stores s and queues the job that writes it,
	// and one conversion per format in s.Converted.
	CreateExportSnapshot(ctx context.Context, s *ExportSnapshot) error
	// FindExportSnapshots returns a project's snapshots, newest first.
	FindExportSnapshots(ctx context.Context, projectID int64) ([]*ExportSnapshot, error)
	// FindExportSnapshotByID returns a snapshot, ENOTFOUND otherwise.
	FindExportSnapshotByID(ctx context.Context, id int64) (*ExportSnapshot, error)
	// DeleteExportSnapshot deletes a snapshot and its stored output.
	DeleteExportSnapshot(ctx context.Context, id int64) error
	// ConvertExportSnapshot queues the conversion of a snapshot into
	// exportType (checked by the caller) and returns the format; a format
	// already converted or on its way is returned as it is.
	ConvertExportSnapshot(ctx context.Context, id int64, exportType string) (*ConvertedFormat, error)
	// OpenExportOutput returns the stored output of a snapshot in
	// exportType, ENOTFOUND when that output is not (yet) complete.
	OpenExportOutput(ctx context.Context, id int64, exportType string) (io.ReadCloser, error)
	// ConvertExportOutput writes the snapshot's JSON converted into
	// exportType to w without storing it, for a download that comes before
	// its conversion finished. ECONFLICT when the snapshot is not completed.
	ConvertExportOutput(ctx context.Context, id int64, exportType string, w io.Writer) error
}

// ExportSnapshotJob writes a snapshot's JSON, then its pending conversions.
type ExportSnapshotJob struct {
	SnapshotID int64 `json:"snapshot_id" river:"unique"`
}

// Kind names the job type in the queue.
func (ExportSnapshotJob) Kind() string { return "export_snapshot" }

// ConvertExportJob converts a completed snapshot's JSON into one format.
type ConvertExportJob struct {
	SnapshotID int64  `json:"snapshot_id" river:"unique"`
	ExportType string `json:"export_type" river:"unique"`
}

// Kind names the job type in the queue.
func (ConvertExportJob) Kind() string { return "convert_export" }
