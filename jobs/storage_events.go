package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/importer"
	"github.com/riverqueue/river"
)

// StorageEventStore is what the event workers need from the database.
type StorageEventStore interface {
	importer.Sink
	FindSourceStorageByID(ctx context.Context, id int64) (*blobmark.SourceStorage, error)
	FindStorageEvents(ctx context.Context, storageID int64) (*blobmark.StorageEvents, error)
	PendingStorageEvents(ctx context.Context, storageID int64, limit int) ([]int64, []blobmark.BlobEvent, error)
	AdmitStorageEvents(ctx context.Context, storageID int64, events []blobmark.BlobEvent, isNewer func(next, last string) bool) ([]blobmark.BlobEvent, error)
	FinishStorageEvents(ctx context.Context, storageID int64, rowIDs []int64, received, applied, ignored int) error
	EnqueueStorageEventJobs(ctx context.Context) (int, error)
}

// EventBatch is how many events one step applies: one link lookup and one
// write transaction.
const EventBatch = 2000

// eventSource builds the importer source of a storage for events, with the
// generation of its current sync, so a sync running now never takes a key
// an event just imported for a deleted blob; the next sync has a newer
// generation and reconciles as usual.
func eventSource(ctx context.Context, conn *azureblob.Connector, st *blobmark.SourceStorage) (*importer.Source, importer.Opener, error) {
	src, err := importer.NewSource(st.ID, importer.Options{Container: st.Container, Prefix: st.Prefix, RegexFilter: st.RegexFilter,
		Recursive: st.RecursiveScan, UseBlobURLs: st.UseBlobURLs, SyncChanged: st.SyncChanged, SyncDeleted: st.SyncDeleted})
	if err != nil {
		return nil, nil, err
	}
	if j := st.State.LastSyncJob; j != nil {
		src.Generation, _ = strconv.ParseInt(*j, 10, 64)
	}
	if st.UseBlobURLs {
		return src, nil, nil
	}
	cfg, err := azureblob.ConfigFromConnection(st.Connection, st.Secrets)
	if err != nil {
		return nil, nil, err
	}
	cont, err := conn.Container(ctx, cfg, st.Container)
	if err != nil {
		return nil, nil, err
	}
	return src, containerSource{cont}, nil
}

// applyEvents admits and applies one batch of events and returns how many
// were applied.
func applyEvents(ctx context.Context, store StorageEventStore, src *importer.Source, opener importer.Opener, events []blobmark.BlobEvent) (int, error) {
	admitted, err := store.AdmitStorageEvents(ctx, src.StorageID, importer.Latest(events), importer.Newer)
	if err != nil {
		return 0, err
	}
	if _, err := importer.ApplyEvents(ctx, src, opener, store, admitted); err != nil {
		return 0, err
	}
	return len(admitted), nil
}

// ProcessStorageEventsWorker works blobmark.ProcessStorageEventsJob: it
// applies a storage's persisted pushed events in batches until none is
// left, deleting each batch's rows only after its tasks are committed.
type ProcessStorageEventsWorker struct {
	river.WorkerDefaults[blobmark.ProcessStorageEventsJob]
	Store     StorageEventStore
	Connector *azureblob.Connector
}

// Work drains the storage's pending events.
func (w *ProcessStorageEventsWorker) Work(ctx context.Context, job *river.Job[blobmark.ProcessStorageEventsJob]) error {
	st, err := w.Store.FindSourceStorageByID(ctx, job.Args.StorageID)
	if err != nil {
		return classify(err)
	}
	src, opener, err := eventSource(ctx, w.Connector, st)
	if err != nil {
		return classify(err)
	}
	for {
		ids, events, err := w.Store.PendingStorageEvents(ctx, st.ID, EventBatch)
		if err != nil || len(events) == 0 {
			return err
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
	Store     StorageEventStore
	Connector *azureblob.Connector
	Logger    *slog.Logger
	// Visibility hides received messages while they are processed; 0 means
	// DefaultQueueVisibility.
	Visibility time.Duration
	// MaxDuration bounds one poll; 0 means DefaultQueuePoll.
	MaxDuration time.Duration
	// BeforeDelete, for tests, runs after the tasks are committed and before
	// the messages are deleted; an error stops the job there, as a crash would.
	BeforeDelete func() error
}

// Queue polling defaults.
const (
	DefaultQueueVisibility = time.Minute
	DefaultQueuePoll       = 20 * time.Second
)

// Work polls until the queue is empty or MaxDuration has passed.
func (w *PollStorageQueueWorker) Work(ctx context.Context, job *river.Job[blobmark.PollStorageQueueJob]) error {
	st, err := w.Store.FindSourceStorageByID(ctx, job.Args.StorageID)
	if err != nil {
		return classify(err)
	}
	settings, err := w.Store.FindStorageEvents(ctx, st.ID)
	if err != nil {
		return classify(err)
	}
	if !settings.Enabled || settings.QueueName == "" {
		return nil
	}
	cfg, err := azureblob.ConfigFromConnection(st.Connection, st.Secrets)
	if err != nil {
		return river.JobCancel(err)
	}
	q, err := w.Connector.Queue(ctx, cfg, settings.QueueName)
	if err != nil {
		return classify(err)
	}
	src, opener, err := eventSource(ctx, w.Connector, st)
	if err != nil {
		return classify(err)
	}
	vis, limit := w.Visibility, w.MaxDuration
	if vis <= 0 {
		vis = DefaultQueueVisibility
	}
	if limit <= 0 {
		limit = DefaultQueuePoll
	}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		msgs, err := q.Receive(ctx, 32, vis)
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			return nil
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
			return err
		}
		if w.BeforeDelete != nil {
			if err := w.BeforeDelete(); err != nil {
				return err
			}
		}
		for _, m := range msgs {
			if err := q.Delete(ctx, m); err != nil {
				return fmt.Errorf("delete queue message: %w", err)
			}
		}
		if err := w.Store.FinishStorageEvents(ctx, st.ID, nil, len(events), n, len(events)-n); err != nil {
			return err
		}
	}
	return nil
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
func RegisterStorageEvents(workers *river.Workers, store StorageEventStore, conn *azureblob.Connector, logger *slog.Logger) error {
	if err := river.AddWorkerSafely(workers, &ProcessStorageEventsWorker{Store: store, Connector: conn}); err != nil {
		return err
	}
	if err := river.AddWorkerSafely(workers, &PollStorageQueueWorker{Store: store, Connector: conn, Logger: logger}); err != nil {
		return err
	}
	return river.AddWorkerSafely(workers, &SweepStorageEventsWorker{Store: store})
}
