package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/exporter"
	"github.com/riverqueue/river"
)

// TargetStore is what the export workers need from the database besides
// the exporter's Source and Recorder.
type TargetStore interface {
	// FindTargetStorageWithSecrets returns a storage with its secrets opened;
	// ENOTFOUND when it (or its project) was deleted.
	FindTargetStorageWithSecrets(ctx context.Context, id int64) (*blobmark.TargetStorage, error)
	// SetTargetStorageState records a storage's sync status.
	SetTargetStorageState(ctx context.Context, id int64, st blobmark.StorageState) error
	// FailTargetStorage marks a storage failed with a message for its users.
	FailTargetStorage(ctx context.Context, id int64, message string) error
	// SetTargetDatasetState records how a storage's dataset export goes.
	SetTargetDatasetState(ctx context.Context, id int64, st blobmark.DatasetState) error
	// ExportProject writes a project's export in a format; the dataset
	// export streams it into the container.
	blobmark.ProjectExporter
}

// UploaderOpener opens the container a target storage writes to. The Azure
// connector implements it (azureblob.TargetOpener).
type UploaderOpener interface {
	OpenUploader(ctx context.Context, s *blobmark.TargetStorage) (exporter.ContainerWriter, error)
}

// ExportDeps are what the export workers run against.
type ExportDeps struct {
	Store TargetStore
	// Source and Recorder are the store as the exporter sees it
	// (sqlstore's (*DB).ExportStore()).
	Source   exporter.Source
	Recorder exporter.Recorder
	Opener   UploaderOpener
	// Concurrency is how many objects a sync exports at once;
	// DefaultExportConcurrency when 0.
	Concurrency int
	// BlockSize is the block size of dataset exports;
	// exporter.DefaultBlockSize when 0.
	BlockSize int
	// Backoff, when set, replaces River's retry schedule for export jobs
	// (attempt is 1 after the first failure). Tests shorten it; production
	// leaves River's exponential backoff.
	Backoff func(attempt int) time.Duration
	// Logger receives export failures; nil discards them.
	Logger *slog.Logger
}

// RegisterExport adds the export workers to workers.
func RegisterExport(workers *river.Workers, deps ExportDeps) error {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if err := river.AddWorkerSafely(workers, &ExportAnnotationWorker{Deps: deps}); err != nil {
		return err
	}
	if err := river.AddWorkerSafely(workers, &ExportDatasetWorker{Deps: deps}); err != nil {
		return err
	}
	return river.AddWorkerSafely(workers, &ExportSyncWorker{Deps: deps})
}

// DefaultExportConcurrency is how many objects a sync exports at once by
// default. The Azure SDK's default transport keeps 10 idle connections per
// host; beyond that, connections are closed and reopened between uploads,
// and the export measured slower at 16 than at 8 (bench/export).
const DefaultExportConcurrency = 8

func (d ExportDeps) exporterDeps(up exporter.Uploader) exporter.Deps {
	n := d.Concurrency
	if n <= 0 {
		n = DefaultExportConcurrency
	}
	return exporter.Deps{Source: d.Source, Recorder: d.Recorder, Uploader: up, Concurrency: n}
}

func (d ExportDeps) nextRetry(attempt int) time.Time {
	if d.Backoff == nil {
		return time.Time{}
	}
	return time.Now().Add(d.Backoff(attempt))
}

// ExportAnnotationWorker works blobmark.ExportAnnotationJob: it exports the
// annotation's state as it is when the job runs, so duplicate and
// reordered jobs converge on the latest state.
//
// Errors follow blobmark.Decide: Azure outages, throttling and database
// hiccups are returned so River retries them with backoff; errors only a
// person can fix (credentials, roles, a missing container, configuration)
// cancel the job and fail the storage with the message, and the next
// successful sync catches up on what was missed.
type ExportAnnotationWorker struct {
	river.WorkerDefaults[blobmark.ExportAnnotationJob]
	Deps ExportDeps
}

// NextRetry applies ExportDeps.Backoff.
func (w *ExportAnnotationWorker) NextRetry(job *river.Job[blobmark.ExportAnnotationJob]) time.Time {
	return w.Deps.nextRetry(job.Attempt)
}

// Work exports one annotation to one storage.
func (w *ExportAnnotationWorker) Work(ctx context.Context, job *river.Job[blobmark.ExportAnnotationJob]) error {
	a := job.Args
	s, err := w.Deps.Store.FindTargetStorageWithSecrets(ctx, a.StorageID)
	if blobmark.ErrorCode(err) == blobmark.ENOTFOUND {
		return nil // the storage or its project was deleted: nothing to export to
	} else if err != nil {
		return err
	}
	up, err := w.Deps.Opener.OpenUploader(ctx, s)
	if err == nil {
		_, err = exporter.ExportAnnotation(ctx, w.Deps.exporterDeps(up), exporter.StorageOf(s), a.AnnotationID, a.TaskID)
	}
	if err == nil {
		return nil
	}
	return w.Deps.fail(ctx, s.ID, fmt.Sprintf("annotation %d", a.AnnotationID), err)
}

// fail records err on the storage when it decides Fail, then settles it.
func (d ExportDeps) fail(ctx context.Context, storageID int64, what string, err error) error {
	if decide(ctx, err) != blobmark.Fail {
		d.Logger.WarnContext(ctx, "export will be retried", "storage", storageID, "object", what, "err", err)
		return settle(ctx, err)
	}
	d.Logger.ErrorContext(ctx, "export failed; storage marked failed", "storage", storageID, "object", what, "err", err)
	msg := blobmark.ErrorMessage(err)
	if ferr := d.Store.FailTargetStorage(context.WithoutCancel(ctx), storageID, msg); ferr != nil {
		return ferr // retry: the failure must become visible
	}
	return settle(ctx, err)
}

// ExportSyncWorker works blobmark.ExportSyncJob: a full (or only_new)
// export of a storage's project, reporting progress in the storage's state
// and ending with counts of real outcomes and the list of real failures.
type ExportSyncWorker struct {
	river.WorkerDefaults[blobmark.ExportSyncJob]
	Deps ExportDeps
}

// Timeout lets a sync of a large project run; progress is saved in the
// storage's state as it goes.
func (w *ExportSyncWorker) Timeout(*river.Job[blobmark.ExportSyncJob]) time.Duration {
	return 6 * time.Hour
}

// NextRetry applies ExportDeps.Backoff.
func (w *ExportSyncWorker) NextRetry(job *river.Job[blobmark.ExportSyncJob]) time.Time {
	return w.Deps.nextRetry(job.Attempt)
}

// syncMeta is the meta of a target storage's state during and after a sync.
type syncMeta struct {
	OnlyNew   bool               `json:"only_new"`
	Processed int                `json:"processed"`
	Succeeded int                `json:"succeeded"`
	Uploaded  int                `json:"uploaded"`
	Unchanged int                `json:"unchanged"`
	Deleted   int                `json:"deleted"`
	Kept      int                `json:"kept"`
	Failed    int                `json:"failed"`
	Failures  []exporter.Failure `json:"failures"`
}

// Work runs the sync.
func (w *ExportSyncWorker) Work(ctx context.Context, job *river.Job[blobmark.ExportSyncJob]) error {
	s, err := w.Deps.Store.FindTargetStorageWithSecrets(ctx, job.Args.StorageID)
	if blobmark.ErrorCode(err) == blobmark.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	jobID := fmt.Sprint(job.ID)
	state := func(status string, m syncMeta, traceback *string, done bool) blobmark.StorageState {
		if m.Failures == nil {
			m.Failures = []exporter.Failure{}
		}
		raw, _ := json.Marshal(m)
		st := blobmark.StorageState{Status: status, LastSyncJob: &jobID, Traceback: traceback, Meta: raw,
			LastSync: s.State.LastSync, LastSyncCount: s.State.LastSyncCount}
		if done {
			now := time.Now()
			n := m.Succeeded
			st.LastSync, st.LastSyncCount = &now, &n
		}
		return st
	}
	if err := w.Deps.Store.SetTargetStorageState(ctx, s.ID, state(blobmark.StatusInProgress, syncMeta{OnlyNew: job.Args.OnlyNew}, nil, false)); err != nil {
		return err
	}
	up, err := w.Deps.Opener.OpenUploader(ctx, s)
	var res exporter.Result
	if err == nil {
		res, err = exporter.SyncAll(ctx, w.Deps.exporterDeps(up), exporter.StorageOf(s), job.Args.OnlyNew, func(p exporter.Progress) {
			m := syncMeta{OnlyNew: job.Args.OnlyNew, Processed: p.Processed, Succeeded: p.Succeeded, Uploaded: p.Uploaded, Failed: p.Failed}
			if err := w.Deps.Store.SetTargetStorageState(ctx, s.ID, state(blobmark.StatusInProgress, m, nil, false)); err != nil {
				w.Deps.Logger.WarnContext(ctx, "cannot save export sync progress", "storage", s.ID, "err", err)
			}
		})
	}
	m := syncMeta{OnlyNew: job.Args.OnlyNew, Processed: res.Processed, Succeeded: res.Succeeded, Uploaded: res.Uploaded,
		Unchanged: res.Unchanged, Deleted: res.Deleted, Kept: res.Kept, Failed: res.Failed, Failures: res.Failures}
	bg := context.WithoutCancel(ctx)
	if err != nil {
		msg := blobmark.ErrorMessage(err)
		if decide(ctx, err) == blobmark.Retry {
			msg += " (the sync will be retried)"
		}
		if serr := w.Deps.Store.SetTargetStorageState(bg, s.ID, state(blobmark.StatusFailed, m, &msg, false)); serr != nil {
			return serr
		}
		return settle(ctx, err)
	}
	var traceback *string
	if res.Failed > 0 {
		t := fmt.Sprintf("%d of %d objects failed to export; see meta.failures", res.Failed, res.Processed)
		traceback = &t
	}
	return w.Deps.Store.SetTargetStorageState(bg, s.ID, state(res.Status, m, traceback, true))
}
