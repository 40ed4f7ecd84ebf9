package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/importer"
	"github.com/riverqueue/river"
)

// SourceSyncStore is what the sync worker needs from the database: the
// storage, its state transitions and the importer's Sink.
type SourceSyncStore interface {
	importer.Sink
	// FindSourceStorageByID returns the storage without its secrets, for
	// the checks made before the sync starts.
	FindSourceStorageByID(ctx context.Context, id int64) (*blobmark.SourceStorage, error)
	// FindSourceStorageWithSecrets returns the storage with its secrets
	// opened, to list and read its container.
	FindSourceStorageWithSecrets(ctx context.Context, id int64) (*blobmark.SourceStorage, error)
	// StartSourceSync marks the storage in_progress for job jobID and
	// reports whether a cancel was requested already.
	StartSourceSync(ctx context.Context, id, jobID int64) (cancelled bool, err error)
	// UpdateSourceSyncProgress saves progress and reports a requested cancel.
	UpdateSourceSyncProgress(ctx context.Context, id int64, count int, meta map[string]any) (cancelled bool, err error)
	// FinishSourceSync records the final status, count, traceback and meta.
	FinishSourceSync(ctx context.Context, id, jobID int64, status string, count int, traceback string, meta map[string]any) error
}

// ScheduleStore is what the scheduler needs from the database: each
// method queues the scheduled work of one kind whose interval has elapsed,
// and the caller runs them every tick.
type ScheduleStore interface {
	EnqueueDueSourceSyncs(ctx context.Context, tick time.Duration) (int, error)
	EnqueueDueDatasetExports(ctx context.Context, tick time.Duration) (int, error)
}

// SourceOpener opens the container a source storage reads. The Azure
// connector implements it (azureblob.SourceOpener).
type SourceOpener interface {
	OpenSource(ctx context.Context, st *blobmark.SourceStorage) (importer.Container, error)
}

// ErrSyncCancelled is the cause of a sync stopped through the cancel
// endpoint; it wraps blobmark.ErrCancelled, which decides Cancel.
var ErrSyncCancelled = fmt.Errorf("sync %w", blobmark.ErrCancelled)

// SyncSourceWorker works blobmark.SyncSourceJob: it runs the importer over
// the storage's container and keeps the storage's status and meta current.
type SyncSourceWorker struct {
	river.WorkerDefaults[blobmark.SyncSourceJob]
	Store  SourceSyncStore
	Source SourceOpener
	// ProgressInterval overrides the importer's progress period (and so how
	// soon a cancel request is seen).
	ProgressInterval time.Duration
	// PageSize overrides the listing page size (tests use small pages).
	PageSize int
	// Observer, when set, hears each sync's counts as they grow.
	Observer SyncObserver
	// MaxDuration overrides SyncTimeout; it must stay under the queue's
	// stuck-job rescue (sqlstore.JobsConfig.RescueStuckJobsAfter).
	MaxDuration time.Duration
	// FanOut, with ChunkFiles > 0, hands the task files of Tasks-mode
	// syncs to SyncFilesWorker jobs in chunks of ChunkFiles, so every
	// replica's workers read them (see importer.FanOut).
	FanOut     importer.FanOut
	ChunkFiles int
	// ChunkStaleAfter overrides importer.DefaultChunkStaleAfter; it must
	// stay well under MaxDuration, or a sync waiting for a dead replica's
	// chunk times out first.
	ChunkStaleAfter time.Duration
	// CORSCheck, when set, judges after each successful sync whether the
	// storage's presigned media will load from blobmark's origin, and
	// returns nil where CORS does not matter (streamed media). The verdict
	// goes into the storage's meta as "cors", so the storage page warns
	// before the first annotator meets a blank image.
	CORSCheck func(ctx context.Context, st *blobmark.SourceStorage) *blobmark.CORSReport
}

// SyncObserver hears what syncs do, for metrics: the counts each sync
// added since its previous report.
type SyncObserver interface {
	SyncProgressed(keysListed, tasksCreated, filesFailed int64)
}

// SyncTimeout bounds one attempt of a sync. It stays under River's default
// stuck-job rescue (one hour), so a live sync is never rescued and run
// twice; a sync longer than that is cancelled and retried, and the retry
// skips everything the attempt committed, so it still finishes.
const SyncTimeout = 50 * time.Minute

// Timeout returns SyncTimeout, or MaxDuration when set.
func (w *SyncSourceWorker) Timeout(*river.Job[blobmark.SyncSourceJob]) time.Duration {
	if w.MaxDuration > 0 {
		return w.MaxDuration
	}
	return SyncTimeout
}

// Work syncs the storage. The job id is the sync's generation, so a retry
// of the same job keeps it and a later sync has a larger one.
func (w *SyncSourceWorker) Work(ctx context.Context, job *river.Job[blobmark.SyncSourceJob]) error {
	id := job.Args.StorageID
	st, err := w.Store.FindSourceStorageByID(ctx, id)
	if blobmark.ErrorCode(err) == blobmark.ENOTFOUND {
		return river.JobCancel(err) // deleted since it was queued
	} else if err != nil {
		return err
	}
	if j := st.State.LastSyncJob; j != nil && *j != strconv.FormatInt(job.ID, 10) {
		// A later request replaced this job (it was presumed dead); the
		// newer job owns the storage's status.
		return river.JobCancel(fmt.Errorf("sync job %d superseded by job %s", job.ID, *j))
	}
	cancelled, err := w.Store.StartSourceSync(ctx, id, job.ID)
	if err != nil {
		return settle(ctx, err)
	}
	// Read the settings again: StartSourceSync recorded when they were
	// saved, and this sync must run with exactly those.
	if st, err = w.Store.FindSourceStorageWithSecrets(ctx, id); err != nil {
		return settle(ctx, err)
	}
	// meta.attempts counts sync requests (Label Studio's meaning, and the
	// job's Request); the queue's own attempt number is job_attempt.
	attempt := map[string]any{"job_attempt": job.Attempt}
	if cancelled {
		return w.finishCancelled(ctx, id, job.ID, importer.Progress{}, attempt)
	}
	src, lister, err := openSource(ctx, w.Source, st, job.ID)
	if err != nil {
		return w.fail(ctx, id, job.ID, importer.Progress{}, err)
	}
	src.ProgressInterval = w.ProgressInterval
	src.PageSize = w.PageSize
	if w.FanOut != nil && w.ChunkFiles > 0 {
		src.FanOut, src.ChunkFiles, src.ChunkStaleAfter = w.FanOut, w.ChunkFiles, w.ChunkStaleAfter
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var last, observed importer.Progress
	observe := func(p importer.Progress) {
		if w.Observer != nil {
			w.Observer.SyncProgressed(p.KeysListed-observed.KeysListed, p.TasksCreated-observed.TasksCreated, p.FilesFailed-observed.FilesFailed)
			observed = p
		}
	}
	defer func() { observe(last) }()
	progress := func(pctx context.Context, p importer.Progress) {
		last = p
		observe(p)
		stop, err := w.Store.UpdateSourceSyncProgress(pctx, id, int(p.TasksCreated), p.Meta())
		if err == nil && stop {
			cancel(ErrSyncCancelled)
		}
	}
	res, err := importer.Sync(runCtx, src, lister, lister, w.Store, progress)
	if res != nil {
		last = res.Progress
	}
	bg := context.WithoutCancel(ctx)
	switch {
	case errors.Is(context.Cause(runCtx), ErrSyncCancelled):
		return w.finishCancelled(bg, id, job.ID, last, attempt)
	case err != nil && ctx.Err() != nil:
		// Shutdown or a killed worker: River retries the job, which
		// resumes; the storage keeps showing the sync in progress.
		return err
	case err != nil:
		return w.fail(ctx, id, job.ID, last, err)
	}
	meta := finalMeta(last)
	meta["job_attempt"] = job.Attempt
	if w.CORSCheck != nil {
		if rep := w.CORSCheck(bg, st); rep != nil {
			meta[blobmark.MetaCORS] = rep
		}
	}
	return w.Store.FinishSourceSync(bg, id, job.ID, res.Status, int(last.TasksCreated), last.Traceback(), meta)
}

// finishCancelled records a cancelled sync as failed and ends the job.
func (w *SyncSourceWorker) finishCancelled(ctx context.Context, id, jobID int64, p importer.Progress, extra map[string]any) error {
	meta := finalMeta(p)
	for k, v := range extra {
		meta[k] = v
	}
	meta["cancelled"] = true
	err := w.Store.FinishSourceSync(context.WithoutCancel(ctx), id, jobID, blobmark.StatusFailed, int(p.TasksCreated),
		"Sync cancelled by request; tasks created so far are kept, and the next sync continues from there.", meta)
	return errors.Join(settle(context.WithoutCancel(ctx), ErrSyncCancelled), err)
}

// fail records a failed sync and settles cause: a Fail (bad settings,
// refused credentials) ends the job, a Retry is retried by River, and the
// storage shows the error meanwhile.
func (w *SyncSourceWorker) fail(ctx context.Context, id, jobID int64, p importer.Progress, cause error) error {
	ferr := w.Store.FinishSourceSync(context.WithoutCancel(ctx), id, jobID, blobmark.StatusFailed, int(p.TasksCreated),
		blobmark.ErrorMessage(cause), finalMeta(p))
	return errors.Join(settle(ctx, cause), ferr)
}

// finalMeta is p's meta with the failure keys always present, so the
// failures of an earlier sync never linger in the storage's meta.
func finalMeta(p importer.Progress) map[string]any {
	m := p.Meta()
	if _, ok := m["failures"]; !ok {
		m["failures"] = []importer.Failure{}
	}
	if _, ok := m["failures_omitted"]; !ok {
		m["failures_omitted"] = 0
	}
	return m
}

// openSource returns the importer's view of storage st for sync generation
// gen, and its container. Settings the storage should never have been saved
// with, and refused credentials, come back as errors blobmark.Decide fails.
func openSource(ctx context.Context, opener SourceOpener, st *blobmark.SourceStorage, gen int64) (*importer.Source, importer.Container, error) {
	src, err := newSource(st, gen)
	if err != nil {
		return nil, nil, err
	}
	cont, err := opener.OpenSource(ctx, st)
	if err != nil {
		return nil, nil, err
	}
	return src, cont, nil
}

// newSource returns the importer's Source of storage st for sync generation
// gen.
func newSource(st *blobmark.SourceStorage, gen int64) (*importer.Source, error) {
	src, err := importer.NewSource(st.ID, importer.OptionsFor(st))
	if err != nil {
		return nil, err
	}
	src.Generation = gen
	return src, nil
}

// ScheduleSourceSyncsWorker works blobmark.ScheduleSourceSyncsJob.
type ScheduleSourceSyncsWorker struct {
	river.WorkerDefaults[blobmark.ScheduleSourceSyncsJob]
	Store ScheduleStore
}

// Work enqueues every due source sync and dataset export. It runs every
// ScheduleInterval, which the store needs to tell a due storage from one
// due only at the next tick. The dataset exports are queued even when the
// syncs fail, so that one kind's trouble does not stop the other's
// schedule.
func (w *ScheduleSourceSyncsWorker) Work(ctx context.Context, job *river.Job[blobmark.ScheduleSourceSyncsJob]) error {
	_, errSyncs := w.Store.EnqueueDueSourceSyncs(ctx, ScheduleInterval)
	if errSyncs != nil {
		errSyncs = fmt.Errorf("schedule source syncs: %w", errSyncs)
	}
	_, errExports := w.Store.EnqueueDueDatasetExports(ctx, ScheduleInterval)
	if errExports != nil {
		errExports = fmt.Errorf("schedule dataset exports: %w", errExports)
	}
	return errors.Join(errSyncs, errExports)
}

// ScheduleInterval is how often the scheduler looks for due syncs and
// dataset exports.
const ScheduleInterval = time.Minute

// SchedulePeriodicJob returns the periodic job that drives scheduled syncs
// and dataset exports.
// River inserts periodic jobs on its elected leader only, each scheduled on
// a grid of ScheduleInterval, so with several replicas each tick normally
// runs once. Two may still overlap (a new leader's RunOnStart tick); the
// store claims each storage before queuing it, so that is harmless.
func SchedulePeriodicJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(ScheduleInterval),
		func() (river.JobArgs, *river.InsertOpts) { return blobmark.ScheduleSourceSyncsJob{}, nil },
		&river.PeriodicJobOpts{ID: "schedule_source_syncs", RunOnStart: true})
}
