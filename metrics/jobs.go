package metrics

import (
	"context"
	"errors"

	"github.com/blobmark/blobmark"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

const (
	exportAnnotation = "annotation"
	exportSync       = "sync"
	exportDataset    = "dataset"
)

// JobOutcomes returns a River worker middleware that counts the outcome of
// every attempt of the sync and export jobs this process works: what the
// blobmark_export_*_total and blobmark_sync_failures_total series count.
func (m *Metrics) JobOutcomes() rivertype.WorkerMiddleware { return &jobOutcomes{m: m} }

type jobOutcomes struct {
	river.MiddlewareDefaults
	m *Metrics
}

// syncCancelledByUser matches jobs.ErrSyncCancelled by message, so that
// this package need not import the workers; a sync stopped on request is
// not a failure an operator must hear about.
const syncCancelledByUser = "sync cancelled by request"

func (j *jobOutcomes) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	err := doInner(ctx)
	switch job.Kind {
	case blobmark.ExportAnnotationJob{}.Kind(), blobmark.ExportSyncJob{}.Kind(), blobmark.ExportDatasetJob{}.Kind():
		kind := exportAnnotation
		switch job.Kind {
		case blobmark.ExportSyncJob{}.Kind():
			kind = exportSync
		case blobmark.ExportDatasetJob{}.Kind():
			kind = exportDataset
		}
		if err != nil {
			j.m.exportFailures.WithLabelValues(kind).Inc()
		} else {
			j.m.exportSuccesses.WithLabelValues(kind).Inc()
		}
	case blobmark.SyncSourceJob{}.Kind():
		if err != nil && !isUserCancel(err) {
			j.m.syncFailures.Inc()
		}
	}
	return err
}

func isUserCancel(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if e.Error() == syncCancelledByUser {
			return true
		}
	}
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		for _, e := range joined.Unwrap() {
			if isUserCancel(e) {
				return true
			}
		}
	}
	return false
}
