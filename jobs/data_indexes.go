package jobs

import (
	"context"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/riverqueue/river"
)

// DataFieldIndexer builds the indexes behind the Data Manager's data-field
// filters and sorts.
type DataFieldIndexer interface {
	// IndexDataFields makes sure each key has its index, building the
	// missing ones; keys past the store's bound on such indexes are left
	// unindexed (their filters still work, reading every task).
	IndexDataFields(ctx context.Context, keys []string) error
}

// IndexDataFieldsWorker works blobmark.IndexDataFieldsJob.
type IndexDataFieldsWorker struct {
	river.WorkerDefaults[blobmark.IndexDataFieldsJob]
	Store DataFieldIndexer
}

// Timeout allows an index over millions of tasks to be built.
func (w *IndexDataFieldsWorker) Timeout(*river.Job[blobmark.IndexDataFieldsJob]) time.Duration {
	return 30 * time.Minute
}

// Work builds the job's indexes; building is idempotent, so a retried job
// only finishes what is missing.
func (w *IndexDataFieldsWorker) Work(ctx context.Context, job *river.Job[blobmark.IndexDataFieldsJob]) error {
	return settle(ctx, w.Store.IndexDataFields(ctx, job.Args.Keys))
}

// IndexSavedViewsPeriodicJob returns the periodic job that indexes every
// saved view's data fields: at start (views saved by an older version, or
// a job lost with a crash) and hourly (an index an operator dropped).
// Indexes that exist cost one catalog read.
func IndexSavedViewsPeriodicJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
		func() (river.JobArgs, *river.InsertOpts) { return blobmark.IndexDataFieldsJob{}, nil },
		&river.PeriodicJobOpts{ID: "index_saved_views", RunOnStart: true})
}
