package jobs

import (
	"context"
	"io"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/exporter"
	"github.com/riverqueue/river"
)

// ExportDatasetWorker works blobmark.ExportDatasetJob: it writes the whole
// project in the storage's dataset format as one object, streamed in
// blocks and committed at the end (exporter.WriteDataset).
//
// A run that fails or is stopped commits nothing, so the container keeps
// the previous export; River retries transient failures, and a process
// killed mid-export leaves the job to River's rescue, whose next attempt
// writes the object again from the start (its blocks under new ids; the
// dead run's staged blocks are never committed). Failures only a person
// can fix are recorded in the storage's dataset state and end the job.
type ExportDatasetWorker struct {
	river.WorkerDefaults[blobmark.ExportDatasetJob]
	Deps ExportDeps
}

// Timeout lets the export of a large project run.
func (w *ExportDatasetWorker) Timeout(*river.Job[blobmark.ExportDatasetJob]) time.Duration {
	return 6 * time.Hour
}

// NextRetry applies ExportDeps.Backoff.
func (w *ExportDatasetWorker) NextRetry(job *river.Job[blobmark.ExportDatasetJob]) time.Time {
	return w.Deps.nextRetry(job.Attempt)
}

// Work writes the dataset export.
func (w *ExportDatasetWorker) Work(ctx context.Context, job *river.Job[blobmark.ExportDatasetJob]) error {
	s, err := w.Deps.Store.FindTargetStorageWithSecrets(ctx, job.Args.StorageID)
	if blobmark.ErrorCode(err) == blobmark.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	if s.DatasetFormat == "" {
		return nil // turned off since it was queued
	}
	started := time.Now().UTC()
	st := blobmark.DatasetState{Status: blobmark.StatusInProgress, Format: s.DatasetFormat, StartedAt: &started}
	d := exporter.Dataset{StorageID: s.ID, ProjectID: s.ProjectID, Prefix: s.Prefix, Format: s.DatasetFormat, KeyTemplate: s.DatasetKeyTemplate}
	var res exporter.DatasetResult
	key, contentType, err := d.Object(started)
	if err == nil {
		st.Key = key
		err = w.Deps.Store.SetTargetDatasetState(ctx, s.ID, st)
	}
	if err == nil {
		var up exporter.ContainerWriter
		if up, err = w.Deps.Opener.OpenUploader(ctx, s); err == nil {
			res, err = exporter.WriteDataset(ctx, up, key, contentType, w.Deps.BlockSize, func(out io.Writer) error {
				return w.Deps.Store.ExportProject(ctx, s.ProjectID, s.DatasetFormat, blobmark.ExportFilter{}, out)
			})
		}
	}
	finished := time.Now().UTC()
	st.Bytes, st.Blocks, st.FinishedAt = res.Bytes, res.Blocks, &finished
	bg := context.WithoutCancel(ctx)
	if err != nil {
		st.Status, st.Error = blobmark.StatusFailed, blobmark.ErrorMessage(err)
		if decide(ctx, err) == blobmark.Retry {
			st.Error += " (the export will be retried; the previous object is unchanged)"
			w.Deps.Logger.WarnContext(ctx, "dataset export will be retried", "storage", s.ID, "key", key, "err", err)
		} else {
			w.Deps.Logger.ErrorContext(ctx, "dataset export failed", "storage", s.ID, "key", key, "err", err)
		}
		if serr := w.Deps.Store.SetTargetDatasetState(bg, s.ID, st); serr != nil {
			return serr
		}
		return settle(ctx, err)
	}
	st.Status = blobmark.StatusCompleted
	return w.Deps.Store.SetTargetDatasetState(bg, s.ID, st)
}
