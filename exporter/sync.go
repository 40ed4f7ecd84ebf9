package exporter

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/blobmark/blobmark"
)

// The status strings of a finished sync are spelled as Label Studio's
// storage status field spells them, so its clients read them unchanged.
const (
	// StatusCompleted means every object was exported.
	StatusCompleted = "completed"
	// StatusCompletedWithErrors means the sync ran to the end but some
	// objects failed; Result.Failures says which.
	StatusCompletedWithErrors = "completed_with_errors"
	// StatusFailed means the sync stopped early; SyncAll returns the error
	// whose message the storage shows.
	StatusFailed = "failed"
)

// Failure is one object a sync could not export, with a message safe to
// show to the storage's users.
type Failure struct {
	AnnotationID int64  `json:"annotation_id,omitempty"`
	TaskID       int64  `json:"task_id,omitempty"`
	Message      string `json:"message"`
}

// Progress is a sync's running count, reported while it runs so the UI and
// the stale-job check see it alive.
type Progress struct {
	// Processed counts objects handled so far, failed or not.
	Processed int
	// Succeeded counts objects that are now up to date in the container
	// (uploaded, unchanged, deleted or deliberately kept).
	Succeeded int
	// Uploaded counts objects actually written.
	Uploaded int
	Failed   int
}

// Result is how a sync ended. Counts are of real outcomes: an upload that
// failed is never counted as done.
type Result struct {
	// Status is StatusCompleted, StatusCompletedWithErrors, or StatusFailed
	// when SyncAll also returns an error.
	Status    string
	Processed int
	Succeeded int
	Uploaded  int
	Unchanged int
	Deleted   int
	Kept      int
	Failed    int
	// Failures lists the first Deps.MaxFailures failures; Failed counts all.
	Failures []Failure
}

// SyncAll exports every annotation of the storage's project (every task
// with annotations, in task mode), the manual "sync" of a target storage.
//
// It reads the Source page by page and exports with Deps.Concurrency
// workers, so memory stays bounded by a page and the worker count. A full
// sync (onlyNew false) uploads every object even when its recorded hash is
// unchanged, which also repairs objects deleted or edited in the container
// behind blobmark's back; onlyNew exports only what the Source reports as
// changed since its last export, and skips identical bytes.
//
// An object that fails to export is counted and listed and the sync goes
// on (StatusCompletedWithErrors). An error that blobmark.Decide does not
// retry, such as revoked credentials or a missing container, would fail
// every object alike, so it stops the sync and is returned with StatusFailed; so are
// errors reading the Source and a cancelled ctx. progress, when not nil, is
// called from one goroutine at a time, at least every
// Deps.ProgressInterval and once at the end.
func SyncAll(ctx context.Context, deps Deps, storage Storage, onlyNew bool, progress func(Progress)) (Result, error) {
	deps = withDefaults(deps)
	r, err := newRunner(ctx, deps, storage)
	if err != nil {
		return Result{Status: StatusFailed}, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	s := &syncState{maxFailures: deps.MaxFailures}
	refs := make(chan AnnotationRef)
	var workers sync.WaitGroup
	for range deps.Concurrency {
		workers.Go(func() {
			for ref := range refs {
				outcome, err := r.exportOne(ctx, ref, !onlyNew)
				interrupted := err != nil && ctx.Err() != nil
				// Decide, not DecideItem: every object goes to the
				// same container, so a code DecideItem would drop
				// (a missing container, a refused request) is every
				// object's problem, not this one's. A key its task
				// cannot fill is that task's alone.
				if err != nil && !interrupted && !errors.Is(err, ErrKeyTemplate) && blobmark.Decide(err) != blobmark.Retry {
					cancel(err)
				}
				s.add(ref, storage.Format, outcome, err, interrupted)
			}
		})
	}

	stopProgress := make(chan struct{})
	var reporter sync.WaitGroup
	if progress != nil {
		reporter.Go(func() {
			ticker := time.NewTicker(deps.ProgressInterval)
			defer ticker.Stop()
			for {
				select {
				case <-ticker.C:
					progress(s.progress())
				case <-stopProgress:
					return
				}
			}
		})
	}

	listErr := feed(ctx, deps, storage, onlyNew, refs)
	close(refs)
	workers.Wait()
	close(stopProgress)
	reporter.Wait()

	res := s.result()
	if progress != nil {
		progress(s.progress())
	}
	switch {
	case context.Cause(ctx) != nil && !errors.Is(context.Cause(ctx), context.Canceled):
		res.Status = StatusFailed
		return res, context.Cause(ctx)
	case listErr != nil:
		res.Status = StatusFailed
		return res, listErr
	case ctx.Err() != nil:
		res.Status = StatusFailed
		return res, ctx.Err()
	}
	return res, nil
}

// feed sends every object to export to refs, page by page, until the pages
// run out, the Source fails or ctx ends.
func feed(ctx context.Context, deps Deps, storage Storage, onlyNew bool, refs chan<- AnnotationRef) error {
	q := ExportQuery{StorageID: storage.ID, ProjectID: storage.ProjectID, OnlyNew: onlyNew, Limit: deps.PageSize}
	for {
		var page []AnnotationRef
		if storage.Format == FormatTask {
			ids, err := deps.Source.FindTasksToExport(ctx, q)
			if err != nil {
				return err
			}
			for _, id := range ids {
				page = append(page, AnnotationRef{TaskID: id})
			}
		} else {
			var err error
			if page, err = deps.Source.FindAnnotationsToExport(ctx, q); err != nil {
				return err
			}
		}
		if len(page) == 0 {
			return nil
		}
		for _, ref := range page {
			select {
			case refs <- ref:
			case <-ctx.Done():
				return nil // the cause is reported by SyncAll
			}
		}
		if storage.Format == FormatTask {
			q.AfterID = page[len(page)-1].TaskID
		} else {
			q.AfterID = page[len(page)-1].ID
		}
	}
}

func withDefaults(d Deps) Deps {
	if d.Concurrency <= 0 {
		d.Concurrency = 16
	}
	if d.PageSize <= 0 {
		d.PageSize = 500
	}
	if d.ProgressInterval <= 0 {
		d.ProgressInterval = 2 * time.Second
	}
	if d.MaxFailures <= 0 {
		d.MaxFailures = 100
	}
	return d
}

// syncState is a sync's counters, shared by its workers.
type syncState struct {
	mu          sync.Mutex
	maxFailures int
	res         Result
}

// add counts one object. An object interrupted because the sync was
// stopping is not counted at all: it was neither exported nor a failure of
// its own.
func (s *syncState) add(ref AnnotationRef, f Format, outcome Outcome, err error, interrupted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if interrupted {
			return
		}
		s.res.Processed++
		s.res.Failed++
		if len(s.res.Failures) < s.maxFailures {
			fl := Failure{TaskID: ref.TaskID, Message: blobmark.ErrorMessage(err)}
			if f == FormatAnnotation {
				fl.AnnotationID = ref.ID
			}
			s.res.Failures = append(s.res.Failures, fl)
		}
		return
	}
	s.res.Processed++
	s.res.Succeeded++
	switch outcome {
	case OutcomeUploaded:
		s.res.Uploaded++
	case OutcomeUnchanged:
		s.res.Unchanged++
	case OutcomeDeleted:
		s.res.Deleted++
	case OutcomeKept:
		s.res.Kept++
	}
}

func (s *syncState) progress() Progress {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Progress{Processed: s.res.Processed, Succeeded: s.res.Succeeded, Uploaded: s.res.Uploaded, Failed: s.res.Failed}
}

func (s *syncState) result() Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	res := s.res
	res.Failures = append([]Failure(nil), s.res.Failures...)
	res.Status = StatusCompleted
	if res.Failed > 0 {
		res.Status = StatusCompletedWithErrors
	}
	return res
}
