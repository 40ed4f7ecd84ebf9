package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/importer"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// StorageEventStore is what the event workers need from the database.
type StorageEventStore interface {
	importer.Sink
	FindSourceStorageWithSecrets(ctx context.Context, id int64) (*blobmark.SourceStorage, error)
	FindStorageEvents(ctx context.Context, storageID int64) (*blobmark.StorageEvents, error)
	PendingStorageEvents(ctx context.Context, storageID int64, limit int) ([]int64, []blobmark.BlobEvent, error)
	AdmitStorageEvents(ctx context.Context, storageID int64, events []blobmark.BlobEvent, isNewer func(next, last string) bool) ([]blobmark.BlobEvent, error)
	FinishStorageEvents(ctx context.Context, storageID int64, rowIDs []int64, received, applied, ignored int) error
	EnqueueStorageEventJobs(ctx context.Context) (int, error)
	// RequestSourceSync enqueues a sync of the storage, for the directory
	// changes only a listing can apply (see importer.NeedsListing).
	RequestSourceSync(ctx context.Context, id int64) (*blobmark.SourceStorage, error)
	AcquireStorageEventLease(ctx context.Context, storageID int64, holder string, ttl time.Duration) (bool, error)
	RenewStorageEventLease(ctx context.Context, storageID int64, holder string, ttl time.Duration) (bool, error)
	ReleaseStorageEventLease(ctx context.Context, storageID int64, holder string) error
}

// Event lease defaults.
const (
	// DefaultEventLease is how long a storage's event lease lasts without
	// renewal: how long the events of a storage whose worker died wait
	// before another worker takes over. It is renewed every third of it.
	DefaultEventLease = 30 * time.Second
	// DefaultEventSnooze is how long a job waits before it tries again to
	// take a lease another job holds.
	DefaultEventSnooze = 250 * time.Millisecond
)

// errEventLeaseLost ends a job whose lease expired and was taken over.
var errEventLeaseLost = errors.New("the storage's event lease expired and was taken over by another worker")

// eventLease is a job's hold on the lease that lets one worker at a time
// apply a storage's events (the per-key ordering assumes it). It is
// renewed in the background while held.
type eventLease struct {
	store     StorageEventStore
	storageID int64
	holder    string
	ttl       time.Duration
	lost      context.CancelCauseFunc

	mu   sync.Mutex
	held bool
}

// holdEventLease returns a lease of the storage for the job, not yet
// acquired, the context the job must work in (cancelled if the lease is
// lost) and the function that stops renewing and releases it.
func holdEventLease(ctx context.Context, store StorageEventStore, storageID int64, row *rivertype.JobRow, ttl time.Duration) (*eventLease, context.Context, func()) {
	if ttl <= 0 {
		ttl = DefaultEventLease
	}
	ctx, cancel := context.WithCancelCause(ctx)
	l := &eventLease{store: store, storageID: storageID, holder: fmt.Sprintf("job %d attempt %d", row.ID, row.Attempt), ttl: ttl, lost: cancel}
	done := make(chan struct{})
	go l.renew(ctx, done)
	return l, ctx, func() {
		cancel(nil)
		<-done
		rctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer stop()
		_ = l.release(rctx) // left held, it expires
	}
}

func (l *eventLease) acquire(ctx context.Context) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ok, err := l.store.AcquireStorageEventLease(ctx, l.storageID, l.holder, l.ttl)
	l.held = ok && err == nil
	return l.held, err
}

func (l *eventLease) release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.held {
		return nil
	}
	l.held = false
	return l.store.ReleaseStorageEventLease(ctx, l.storageID, l.holder)
}

// renew extends the lease every third of its time while it is held; a
// failed renewal is tried again at the next tick, before it expires.
func (l *eventLease) renew(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l.mu.Lock()
		if l.held {
			if ok, err := l.store.RenewStorageEventLease(ctx, l.storageID, l.holder, l.ttl); err == nil && !ok {
				l.held = false
				l.lost(errEventLeaseLost)
			}
		}
		l.mu.Unlock()
	}
}

// leaseErr returns why ctx was cancelled if the lease was lost, else err.
func leaseErr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); errors.Is(cause, errEventLeaseLost) {
		return cause
	}
	return err
}

// EventBatch is how many events one step applies: one link lookup and one
// write transaction.
const EventBatch = 2000

// EventSourceOpener opens what the event workers read of a source storage:
// its container and its event queue. The Azure connector implements it
// (azureblob.SourceOpener).
type EventSourceOpener interface {
	SourceOpener
	OpenEventQueue(ctx context.Context, st *blobmark.SourceStorage, queue string) (importer.EventQueue, error)
}

// eventSource builds the importer source of a storage for events, with the
// generation of its current sync, so a sync running now never takes a key
// an event just imported for a deleted blob; the next sync has a newer
// generation and reconciles as usual. In Files mode no blob is read, so no
// container is opened.
func eventSource(ctx context.Context, opener SourceOpener, st *blobmark.SourceStorage) (*importer.Source, importer.Opener, error) {
	var gen int64
	if j := st.State.LastSyncJob; j != nil {
		gen, _ = strconv.ParseInt(*j, 10, 64)
	}
	src, err := newSource(st, gen)
	if err != nil {
		return nil, nil, err
	}
	if st.UseBlobURLs {
		return src, nil, nil
	}
	cont, err := opener.OpenSource(ctx, st)
	if err != nil {
		return nil, nil, err
	}
	return src, cont, nil
}

// applyEvents admits and applies one batch of events and returns how many
// were applied. A directory deleted or renamed in the storage's scope (Data
// Lake Storage Gen2) names none of its files, so it requests a sync, whose
// listing and reconcile apply it as they would the deletion and creation
// of each file.
func applyEvents(ctx context.Context, store StorageEventStore, src *importer.Source, opener importer.Opener, events []blobmark.BlobEvent) (int, error) {
	admitted, err := store.AdmitStorageEvents(ctx, src.StorageID, importer.Latest(events), importer.Newer)
	if err != nil {
		return 0, err
	}
	if _, err := importer.ApplyEvents(ctx, src, opener, store, admitted); err != nil {
		return 0, err
	}
	if importer.NeedsListing(src, admitted) {
		if _, err := store.RequestSourceSync(ctx, src.StorageID); err != nil {
			return 0, err
		}
	}
	return len(admitted), nil
}

// ProcessStorageEventsWorker works blobmark.ProcessStorageEventsJob: it
// applies a storage's persisted pushed events in batches until none is
// left, deleting each batch's rows only after its tasks are committed.
//
// Several jobs of a storage may exist at once (one is queued while another
// finishes, see blobmark.ProcessStorageEventsJob.Slot); they take turns
// through the storage's event lease. A job that finds the lease held
// snoozes for a moment. The holder, once it has found no event left,
// releases the lease and looks once more: an event committed meanwhile,
// whose own job found the lease still held, is applied by it or by the
// job that took the lease since.
type ProcessStorageEventsWorker struct {
	river.WorkerDefaults[blobmark.ProcessStorageEventsJob]
	Store  StorageEventStore
	Source SourceOpener
	// LeaseTTL is how long the lease lasts unrenewed; 0 means
	// DefaultEventLease.
	LeaseTTL time.Duration
	// Snooze is how long a job waits for a held lease; 0 means
	// DefaultEventSnooze.
	Snooze time.Duration
	// Applying, for tests, runs with the lease held before a batch is
	// admitted and applied.
	Applying func(ctx context.Context, storageID int64, events []blobmark.BlobEvent)
	// Drained, for tests, runs after the job found no event left and
	// released the lease, just before it returns: River still counts it as
	// running.
	Drained func(ctx context.Context, storageID int64)
}

// Work drains the storage's pending events while holding its lease.
func (w *ProcessStorageEventsWorker) Work(ctx context.Context, job *river.Job[blobmark.ProcessStorageEventsJob]) error {
	lease, ctx, end := holdEventLease(ctx, w.Store, job.Args.StorageID, job.JobRow, w.LeaseTTL)
	defer end()
	ok, err := lease.acquire(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return river.JobSnooze(cmp.Or(w.Snooze, DefaultEventSnooze))
	}
	return leaseErr(ctx, w.drain(ctx, lease))
}

func (w *ProcessStorageEventsWorker) drain(ctx context.Context, lease *eventLease) error {
	st, err := w.Store.FindSourceStorageWithSecrets(ctx, lease.storageID)
	if err != nil {
		return settle(ctx, err)
	}
	src, opener, err := eventSource(ctx, w.Source, st)
	if err != nil {
		return settle(ctx, err)
	}
	for {
		ids, events, err := w.Store.PendingStorageEvents(ctx, st.ID, EventBatch)
		if err != nil {
			return err
		}
		if len(events) == 0 {
			if err := lease.release(ctx); err != nil {
				return err
			}
			if _, more, err := w.Store.PendingStorageEvents(ctx, st.ID, 1); err != nil || len(more) == 0 {
				if err == nil && w.Drained != nil {
					w.Drained(ctx, st.ID)
				}
				return err
			}
			if ok, err := lease.acquire(ctx); err != nil || !ok {
				// Taken since: its holder reads the events.
				return err
			}
			continue
		}
		if w.Applying != nil {
			w.Applying(ctx, st.ID, events)
		}
		n, err := applyEvents(ctx, w.Store, src, opener, events)
		if err != nil {
			return err
		}
		if err := w.Store.FinishStorageEvents(ctx, st.ID, ids, 0, n, len(events)-n); err != nil {
			return err
		}
	}
}

// PollStorageQueueWorker works blobmark.PollStorageQueueJob: it reads the
// storage's event queue with the storage's own credential, applies the
// events, and deletes each message only after its tasks are committed. A
// message left undeleted (a crash) reappears after Visibility and is
// applied again, which changes nothing.
type PollStorageQueueWorker struct {
	river.WorkerDefaults[blobmark.PollStorageQueueJob]
	Store  StorageEventStore
	Source EventSourceOpener
	Logger *slog.Logger
	// Visibility hides received messages while they are processed; 0 means
	// DefaultQueueVisibility.
	Visibility time.Duration
	// MaxDuration bounds one poll; 0 means DefaultQueuePoll.
	MaxDuration time.Duration
	// BeforeDelete, for tests, runs after the tasks are committed and before
	// the messages are deleted; an error stops the job there, as a crash would.
	BeforeDelete func() error
	// LeaseTTL is how long the storage's event lease lasts unrenewed; 0
	// means DefaultEventLease.
	LeaseTTL time.Duration
}

// Queue polling defaults.
const (
	DefaultQueueVisibility = time.Minute
	DefaultQueuePoll       = 20 * time.Second
)

// Work polls until the queue is empty or MaxDuration has passed.
func (w *PollStorageQueueWorker) Work(ctx context.Context, job *river.Job[blobmark.PollStorageQueueJob]) error {
	st, err := w.Store.FindSourceStorageWithSecrets(ctx, job.Args.StorageID)
	if err != nil {
		return settle(ctx, err)
	}
	settings, err := w.Store.FindStorageEvents(ctx, st.ID)
	if err != nil {
		return settle(ctx, err)
	}
	if !settings.Enabled || settings.QueueName == "" {
		return nil
	}
	q, err := w.Source.OpenEventQueue(ctx, st, settings.QueueName)
	if err != nil {
		return settle(ctx, err)
	}
	src, opener, err := eventSource(ctx, w.Source, st)
	if err != nil {
		return settle(ctx, err)
	}
	vis, limit := w.Visibility, w.MaxDuration
	if vis <= 0 {
		vis = DefaultQueueVisibility
	}
	if limit <= 0 {
		limit = DefaultQueuePoll
	}
	// The lease is held per batch, so that pushed events of the same
	// storage are not kept waiting for a whole poll.
	lease, ctx, end := holdEventLease(ctx, w.Store, st.ID, job.JobRow, w.LeaseTTL)
	defer end()
	deadline := time.Now().Add(limit)
	for first := true; time.Now().Before(deadline); first = false {
		if ok, err := lease.acquire(ctx); err != nil {
			return err
		} else if !ok && first {
			return river.JobSnooze(DefaultEventSnooze)
		} else if !ok {
			return nil // the next sweep polls again
		}
		n, err := w.pollBatch(ctx, st, q, src, opener, vis)
		if err != nil || n == 0 {
			return leaseErr(ctx, err)
		}
		if err := lease.release(ctx); err != nil {
			return err
		}
	}
	return nil
}

// pollBatch receives, applies and deletes one batch of messages with the
// lease held, and returns how many messages it took.
func (w *PollStorageQueueWorker) pollBatch(ctx context.Context, st *blobmark.SourceStorage, q importer.EventQueue, src *importer.Source, opener importer.Opener, vis time.Duration) (int, error) {
	msgs, err := q.Receive(ctx, 32, vis)
	if err != nil {
		return 0, err
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	var events []blobmark.BlobEvent
	for _, m := range msgs {
		parsed, perr := importer.ParseEvents(m.Text)
		if perr != nil && w.Logger != nil {
			// A message that is not an event is deleted, or it would
			// come back forever.
			w.Logger.WarnContext(ctx, "ignoring a queue message that is not an event", "storage", st.ID, "err", perr)
		}
		events = append(events, parsed.Events...)
	}
	n, err := applyEvents(ctx, w.Store, src, opener, events)
	if err != nil {
		return 0, err
	}
	if w.BeforeDelete != nil {
		if err := w.BeforeDelete(); err != nil {
			return 0, err
		}
	}
	for _, m := range msgs {
		if err := q.Delete(ctx, m); err != nil {
			return 0, fmt.Errorf("delete queue message: %w", err)
		}
	}
	if err := w.Store.FinishStorageEvents(ctx, st.ID, nil, len(events), n, len(events)-n); err != nil {
		return 0, err
	}
	return len(msgs), nil
}

// SweepStorageEventsWorker works blobmark.SweepStorageEventsJob.
type SweepStorageEventsWorker struct {
	river.WorkerDefaults[blobmark.SweepStorageEventsJob]
	Store StorageEventStore
}

// Work enqueues the event jobs due.
func (w *SweepStorageEventsWorker) Work(ctx context.Context, job *river.Job[blobmark.SweepStorageEventsJob]) error {
	_, err := w.Store.EnqueueStorageEventJobs(ctx)
	return err
}

// DefaultEventSweep is how often queues are polled and left-over pushed
// events picked up.
const DefaultEventSweep = 5 * time.Second

// EventSweepPeriodicJob returns the periodic job that polls event queues
// and picks up pushed events; River runs it on the elected leader only,
// and the jobs it enqueues are unique per storage.
func EventSweepPeriodicJob(every time.Duration) *river.PeriodicJob {
	if every <= 0 {
		every = DefaultEventSweep
	}
	return river.NewPeriodicJob(river.PeriodicInterval(every),
		func() (river.JobArgs, *river.InsertOpts) { return blobmark.SweepStorageEventsJob{}, nil },
		&river.PeriodicJobOpts{ID: "sweep_storage_events", RunOnStart: true})
}

// RegisterStorageEvents adds the event workers to workers.
func RegisterStorageEvents(workers *river.Workers, store StorageEventStore, source EventSourceOpener, logger *slog.Logger) error {
	if err := river.AddWorkerSafely(workers, &ProcessStorageEventsWorker{Store: store, Source: source}); err != nil {
		return err
	}
	if err := river.AddWorkerSafely(workers, &PollStorageQueueWorker{Store: store, Source: source, Logger: logger}); err != nil {
		return err
	}
	return river.AddWorkerSafely(workers, &SweepStorageEventsWorker{Store: store})
}
