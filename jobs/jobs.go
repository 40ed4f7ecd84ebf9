package jobs

import (
	"context"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/riverqueue/river"
)

// Store is everything the workers here need from the database.
type Store interface {
	ProjectPurger
	DataFieldIndexer
}

// Register adds every blobmark worker to workers, for sqlstore's StartJobs.
func Register(workers *river.Workers, store Store) error {
	if err := river.AddWorkerSafely(workers, &PurgeProjectWorker{Store: store}); err != nil {
		return err
	}
	return river.AddWorkerSafely(workers, &IndexDataFieldsWorker{Store: store})
}

// ProjectPurger deletes a deleted project's rows a batch at a time.
type ProjectPurger interface {
	// PurgeProject deletes up to limit tasks of a soft-deleted project with
	// their annotations and predictions, then the project row once no task
	// is left, and reports done when the project is gone (also when it was
	// gone already). It refuses a project that is not deleted.
	PurgeProject(ctx context.Context, projectID int64, limit int) (done bool, err error)
}

// DefaultPurgeBatch is how many tasks one purge transaction deletes: small
// enough that no lock is held for long, large enough that a million-task
// project is gone in a thousand short transactions.
const DefaultPurgeBatch = 1000

// PurgeProjectWorker works blobmark.PurgeProjectJob: it deletes the project's
// rows in batches, each in its own transaction, so progress survives a stop
// or a crash and the retried job carries on where the last one stopped.
type PurgeProjectWorker struct {
	river.WorkerDefaults[blobmark.PurgeProjectJob]
	Store ProjectPurger
	// BatchSize overrides DefaultPurgeBatch.
	BatchSize int
}

// Timeout allows a long purge: batches keep their own transactions short,
// and a timed-out purge would only start over from where it was.
func (w *PurgeProjectWorker) Timeout(*river.Job[blobmark.PurgeProjectJob]) time.Duration {
	return time.Hour
}

// Work purges the project batch by batch until it is gone or ctx ends; an
// ended ctx (shutdown) returns its error so River retries the job later.
func (w *PurgeProjectWorker) Work(ctx context.Context, job *river.Job[blobmark.PurgeProjectJob]) error {
	batch := w.BatchSize
	if batch <= 0 {
		batch = DefaultPurgeBatch
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		done, err := w.Store.PurgeProject(ctx, job.Args.ProjectID, batch)
		if err != nil {
			return settle(ctx, err)
		}
		if done {
			return nil
		}
	}
}

// decide is blobmark.Decide for an error met by a job whose context is ctx.
// Once ctx has ended (the process is stopping, or the attempt ran out of
// time) the error is the interruption's, whatever code it carries, and the
// next attempt resumes the work.
func decide(ctx context.Context, err error) blobmark.Decision {
	if err != nil && ctx.Err() != nil {
		return blobmark.Retry
	}
	return blobmark.Decide(err)
}

// settle maps decide's answer onto River, the one place that does: Retry
// returns err for River to retry with back-off (or the worker's
// NextRetry); any other decision cancels the job, so it is not run again.
// Workers with a storage record a Fail on it before they settle.
func settle(ctx context.Context, err error) error {
	switch decide(ctx, err) {
	case 0:
		return nil
	case blobmark.Retry:
		return err
	}
	return river.JobCancel(err)
}
