package jobs

import (
	"context"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/riverqueue/river"
)

// SnapshotStore is what the snapshot workers need: the store writes the
// output itself (sqlstore's (*DB).RunExportSnapshot), chunk by chunk, and
// records completion or failure.
type SnapshotStore interface {
	// RunExportSnapshot writes a snapshot's JSON; the snapshot is marked
	// failed (and the error returned) when it cannot be written.
	RunExportSnapshot(ctx context.Context, id int64) error
	// RunExportConversion converts a completed snapshot into exportType;
	// ECONFLICT while the snapshot is still being written.
	RunExportConversion(ctx context.Context, id int64, exportType string) error
}

// conversionWait is how long a conversion queued before its snapshot
// completed waits before it looks again.
const conversionWait = time.Second

// RegisterExportSnapshots adds the snapshot and conversion workers.
func RegisterExportSnapshots(workers *river.Workers, store SnapshotStore) error {
	if err := river.AddWorkerSafely(workers, &ExportSnapshotWorker{Store: store}); err != nil {
		return err
	}
	return river.AddWorkerSafely(workers, &ConvertExportWorker{Store: store})
}

// ExportSnapshotWorker writes export snapshots. A failure is final: the
// snapshot says "failed" with the reason, and the user takes a new one; a
// process that dies mid-way leaves the job to River's rescue, whose next
// attempt starts the output over.
type ExportSnapshotWorker struct {
	river.WorkerDefaults[blobmark.ExportSnapshotJob]
	Store SnapshotStore
}

// Work implements river.Worker.
func (w *ExportSnapshotWorker) Work(ctx context.Context, job *river.Job[blobmark.ExportSnapshotJob]) error {
	if err := w.Store.RunExportSnapshot(ctx, job.Args.SnapshotID); err != nil {
		if ctx.Err() != nil {
			return err
		}
		return river.JobCancel(err)
	}
	return nil
}

// ConvertExportWorker converts snapshots into other formats, waiting for
// a snapshot still being written.
type ConvertExportWorker struct {
	river.WorkerDefaults[blobmark.ConvertExportJob]
	Store SnapshotStore
}

// Work implements river.Worker.
func (w *ConvertExportWorker) Work(ctx context.Context, job *river.Job[blobmark.ConvertExportJob]) error {
	err := w.Store.RunExportConversion(ctx, job.Args.SnapshotID, job.Args.ExportType)
	switch {
	case err == nil:
		return nil
	case blobmark.ErrorCode(err) == blobmark.ECONFLICT:
		return river.JobSnooze(conversionWait)
	case ctx.Err() != nil:
		return err
	}
	return river.JobCancel(err)
}
