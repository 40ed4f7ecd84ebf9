package blobmark

import (
	"context"
	"errors"
)

// Decision is what a background job does about an error. Every job kind
// (source sync and its file chunks, storage events, exports, project
// purges, webhook deliveries) asks Decide or DecideItem, so one failure is
// handled one way wherever it happens; jobs maps the decisions onto the
// queue.
type Decision int

// The decisions. The zero Decision is none of them: it is what a nil error
// decides.
const (
	// Retry: the failure is transient (an outage, throttling, a server at
	// its limit, a concurrent change, an unexpected error, the process
	// stopping), so the job runs again later with back-off.
	Retry Decision = iota + 1
	// Fail: only a person can fix it (credentials, an RBAC role, settings,
	// a missing container, a size limit). Repeating the job would repeat
	// the failure, so the storage shows the message and the job stops.
	Fail
	// Cancel: the work is no longer wanted (it was cancelled by request),
	// so the job ends and nothing is marked failed.
	Cancel
	// Drop: the failure is one item's own (one blob deleted meanwhile, one
	// unparsable file), not the job's: the item is recorded as failed and
	// the job goes on with the rest. Only DecideItem answers it.
	Drop
)

// String names the decision, for logs and test failures.
func (d Decision) String() string {
	switch d {
	case Retry:
		return "retry"
	case Fail:
		return "fail"
	case Cancel:
		return "cancel"
	case Drop:
		return "drop"
	}
	return "none"
}

// ErrCancelled is the cause of work stopped by a user's request (a sync's
// cancel endpoint); Decide answers Cancel for any error that wraps it.
var ErrCancelled = errors.New("cancelled by request")

// decisions is the one table of what each error code means to a job. job
// applies when the error stops the job; item when it comes from one item of
// a job that handles many (one task file of a sync), where the codes an
// item can earn by itself are dropped and the others still stop the job.
//
// The codes were decided in five places that disagreed before this table;
// where they did, the demanding user's answer won:
//   - ECONFLICT (a lease, a concurrent change, settings changed during a
//     sync) retries: state moves on. The purge and storage-event workers
//     used to cancel it.
//   - EUNAUTHORIZED fails like EFORBIDDEN: a refused credential does not
//     heal by itself. The purge and storage-event workers used to retry it.
//   - ETOOLARGE fails: the limit does not change between attempts. The
//     source sync, purge and storage-event workers used to retry it.
//   - ERATELIMITED and EBUSY retry: they say "later". The exporter used to
//     fail the storage on them.
var decisions = map[string]struct{ job, item Decision }{
	EUNAVAILABLE:    {Retry, Retry},
	EINTERNAL:       {Retry, Retry},
	ERATELIMITED:    {Retry, Retry},
	EBUSY:           {Retry, Retry},
	ECONFLICT:       {Retry, Drop},
	EUNAUTHORIZED:   {Fail, Fail},
	EFORBIDDEN:      {Fail, Fail},
	EINVALID:        {Fail, Drop},
	ENOTFOUND:       {Fail, Drop},
	ENOTIMPLEMENTED: {Fail, Drop},
	ETOOLARGE:       {Fail, Drop},
}

// Decide returns what a job does about err when err stops it. A
// cancellation by request cancels; an ended context (the process stopping,
// an attempt's timeout) retries, whatever code it was wrapped in, because
// the next attempt resumes the work; otherwise err's code decides, and an
// error without a code is EINTERNAL: retried.
func Decide(err error) Decision {
	return decide(err, false)
}

// DecideItem returns what a job that handles many items does about err
// from one of them: Drop when the item alone is at fault, otherwise what
// Decide answers for the whole job.
func DecideItem(err error) Decision {
	return decide(err, true)
}

func decide(err error, item bool) Decision {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrCancelled):
		return Cancel
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return Retry
	}
	d, ok := decisions[ErrorCode(err)]
	if !ok {
		// A code added to error.go without a row here: retrying is the
		// choice that loses no work.
		return Retry
	}
	if item {
		return d.item
	}
	return d.job
}
