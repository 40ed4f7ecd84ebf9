package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/importer"
	"github.com/riverqueue/river"
)

// SyncFilesStore is what the chunk worker needs from the database.
type SyncFilesStore interface {
	importer.Sink
	// FindSourceStorageWithSecrets returns the storage with its secrets opened.
	FindSourceStorageWithSecrets(ctx context.Context, id int64) (*blobmark.SourceStorage, error)
	// SyncChunk returns a queued chunk, ENOTFOUND once its sync has ended.
	SyncChunk(ctx context.Context, id int64) (*importer.Chunk, error)
	// FinishSyncChunk records the chunk's counts, or the error that stopped
	// it as a whole, for the sync that waits for it.
	FinishSyncChunk(ctx context.Context, id int64, p importer.Progress, failure error) error
	// PingSyncChunk shows the waiting sync that the chunk's worker lives,
	// and reports whether the chunk is still wanted.
	PingSyncChunk(ctx context.Context, id int64) (wanted bool, err error)
}

// SyncFilesWorker works blobmark.SyncFilesJob: it imports one chunk of a
// Tasks-mode sync's task files on whichever replica took the job, and
// records the outcome for the sync job, which sums it into the storage's
// progress and waits for every chunk before it reconciles and finishes.
type SyncFilesWorker struct {
	river.WorkerDefaults[blobmark.SyncFilesJob]
	Store  SyncFilesStore
	Source SourceOpener
	// MaxDuration overrides SyncTimeout, like SyncSourceWorker's.
	MaxDuration time.Duration
	// ChunkStaleAfter is the sync's (see SyncSourceWorker); the worker pings
	// its chunk at importer.ChunkPingInterval of it. 0 means
	// importer.DefaultChunkStaleAfter.
	ChunkStaleAfter time.Duration
	// Logger hears pings that failed; nil discards them.
	Logger *slog.Logger
}

// Timeout bounds one chunk like one sync attempt: a chunk of large files
// may take long, and a live chunk must never be rescued and run twice.
func (w *SyncFilesWorker) Timeout(*river.Job[blobmark.SyncFilesJob]) time.Duration {
	if w.MaxDuration > 0 {
		return w.MaxDuration
	}
	return SyncTimeout
}

// Work imports the chunk. Only a stop of this process (a cancelled ctx)
// leaves the chunk unfinished, for River to retry; any other error is
// recorded on the chunk, where the waiting sync finds it and fails as it
// would have had it met the error itself (and its retry queues the files
// again).
func (w *SyncFilesWorker) Work(ctx context.Context, job *river.Job[blobmark.SyncFilesJob]) error {
	c, err := w.Store.SyncChunk(ctx, job.Args.ChunkID)
	if blobmark.ErrorCode(err) == blobmark.ENOTFOUND {
		return river.JobCancel(fmt.Errorf("sync chunk %d: its sync has ended", job.Args.ChunkID))
	} else if err != nil {
		return err
	}
	if c.Finished {
		return nil
	}
	st, err := w.Store.FindSourceStorageWithSecrets(ctx, c.StorageID)
	if blobmark.ErrorCode(err) == blobmark.ENOTFOUND {
		return river.JobCancel(err)
	} else if err != nil {
		return err
	}
	if j := st.State.LastSyncJob; st.State.Status != blobmark.StatusInProgress || j == nil || *j != strconv.FormatInt(c.Generation, 10) {
		// Cancelled, failed or replaced: nobody waits for this chunk.
		return river.JobCancel(fmt.Errorf("sync chunk %d: sync %d is no longer running", c.ID, c.Generation))
	}
	if settingsChanged(st) {
		// The sync lists with the settings it started with; files read
		// with others (another regex, another container) would not be
		// that sync. It fails, and its retry starts over with the new ones.
		return w.Store.FinishSyncChunk(ctx, c.ID, importer.Progress{}, blobmark.Errorf(blobmark.ECONFLICT,
			"the storage's settings changed during the sync; it is synced again with the new ones"))
	}
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := w.pingWhileWorking(wctx, c.ID, cancel)
	var p importer.Progress
	src, files, err := openSource(wctx, w.Source, st, c.Generation)
	if err == nil {
		p, err = importer.ImportChunk(wctx, src, c.Objects, files, w.Store)
	}
	stop()
	if cause := context.Cause(wctx); errors.Is(cause, errChunkUnwanted) {
		return river.JobCancel(fmt.Errorf("sync chunk %d: %w", c.ID, cause))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return w.Store.FinishSyncChunk(context.WithoutCancel(ctx), c.ID, p, err)
}

// settingsChanged reports whether st was saved again since its running
// sync started (blobmark.MetaSettingsSavedAt): one column compared with
// itself, so no two machines' clocks are.
func settingsChanged(st *blobmark.SourceStorage) bool {
	var meta map[string]any
	if json.Unmarshal(st.State.Meta, &meta) != nil {
		return false
	}
	saved, ok := meta[blobmark.MetaSettingsSavedAt].(string)
	return ok && saved != st.UpdatedAt.Format(time.RFC3339Nano)
}

// errChunkUnwanted stops a chunk whose sync ended or queued its files again
// while it worked; what it imported stays.
var errChunkUnwanted = errors.New("its sync no longer waits for it")

// pingWhileWorking pings the chunk now and then every ping interval until
// stop is called; stop waits for a ping in flight. A chunk no longer wanted
// is cancelled with errChunkUnwanted. A failed ping is only logged: the
// next one may pass, and a chunk that stays silent is queued again by its
// sync, which costs time, never data.
func (w *SyncFilesWorker) pingWhileWorking(ctx context.Context, id int64, cancel context.CancelCauseFunc) (stop func()) {
	stale := w.ChunkStaleAfter
	if stale <= 0 {
		stale = importer.DefaultChunkStaleAfter
	}
	ping := func() {
		wanted, err := w.Store.PingSyncChunk(ctx, id)
		switch {
		case err == nil && !wanted:
			cancel(errChunkUnwanted)
		case err != nil && ctx.Err() == nil && w.Logger != nil:
			w.Logger.WarnContext(ctx, "sync chunk ping failed", "chunk", id, "err", err)
		}
	}
	ping()
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(importer.ChunkPingInterval(stale))
		defer t.Stop()
		for {
			select {
			case <-t.C:
				ping()
			case <-done:
				return
			}
		}
	}()
	return func() { close(done); <-exited }
}
