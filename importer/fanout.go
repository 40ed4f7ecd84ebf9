package importer

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/blobmark/blobmark"
)

// FanOut spreads the downloads and parsing of a Tasks-mode sync over every
// worker of the job queue, so several replicas import one container
// together instead of one job reading every file while the others idle.
//
// The listing job keeps what must stay in one place: the listing, the
// links of unchanged keys, the progress and the final reconcile. The task
// files a page needs read are cut into chunks, queued durably (a chunk is
// a job of its own, committed with its record), imported by whichever
// worker takes them through ImportChunk, and waited for before the
// reconcile. Links still decide what exists, so a chunk imported twice (a
// retried chunk, or a retried listing that queued the same file again)
// creates each task once.
type FanOut interface {
	// DispatchChunks queues chunks of task files of storage storageID's
	// sync generation, all or none.
	DispatchChunks(ctx context.Context, storageID, generation int64, chunks [][]Object) error
	// SyncChunks reports on the chunks queued for storageID's generation.
	SyncChunks(ctx context.Context, storageID, generation int64, maxFailures int) (ChunkState, error)
	// RequeueChunks queues the files of chunks whose worker died again as
	// new chunks, and marks the old ones finished with no counts.
	RequeueChunks(ctx context.Context, ids []int64) error
	// ChunkFinished returns a channel closed once a chunk of storageID's
	// syncs finishes in this process after the call. Chunks finished by
	// other processes are seen at the next ChunkPoll.
	ChunkFinished(storageID int64) <-chan struct{}
}

// ChunkState is how far the chunks of one sync generation are.
type ChunkState struct {
	// Pending counts chunks not finished yet.
	Pending int
	// Progress sums the finished chunks' file and task counts, with their
	// failures up to the cap.
	Progress Progress
	// Started maps each unfinished chunk a worker has started to the
	// number of pings it sent (0 before the first). A count that stops
	// moving means the worker's process died, and River would give the job
	// to another only after its rescue timeout, which may be longer than
	// the sync may wait. Counts, not times, so that no two machines'
	// clocks are ever compared.
	Started map[int64]int64
	// Err is the first error that stopped a chunk as a whole (an outage,
	// refused credentials): the sync fails with it, as it would have had
	// the listing job met it, and a retried sync queues the chunk's files
	// again.
	Err error
}

// DefaultChunkPoll is how often a listing job looks at its chunks while it
// waits for them.
const DefaultChunkPoll = 250 * time.Millisecond

// chunkWakeWithin is how few chunks may be left for a waiting sync to look
// again as soon as one of them finishes in this process, besides every
// ChunkPoll: the sync then ends when its last chunk does, not up to a poll
// later (a sixth of a 100,000-task sync on two cores). Earlier, each look
// sums every chunk of the sync, so one per finished chunk would cost the
// database more than the poll does.
const chunkWakeWithin = 4

// DefaultChunkStaleAfter is how long a started chunk may go without a ping
// from its worker before the sync queues its files again. A worker pings a
// few times within it (see ChunkPingInterval).
const DefaultChunkStaleAfter = 30 * time.Second

// ChunkPingInterval is how often a worker importing a chunk pings it, for
// chunks that go stale after staleAfter: four pings fit in, so a slow
// database round trip or two never makes a live chunk look dead.
func ChunkPingInterval(staleAfter time.Duration) time.Duration { return staleAfter / 4 }

// ChunkFinishes is how a FanOut tells the syncs waiting in its process
// that a chunk of their storage finished: ChunkFinished returns Wait's
// channel, and the chunk's commit is followed by Finished. The zero value
// is ready.
type ChunkFinishes struct {
	mu      sync.Mutex
	waiting map[int64]chan struct{}
}

// Wait returns a channel closed at the next Finished of storageID.
func (f *ChunkFinishes) Wait(storageID int64) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch, ok := f.waiting[storageID]
	if !ok {
		if f.waiting == nil {
			f.waiting = map[int64]chan struct{}{}
		}
		ch = make(chan struct{})
		f.waiting[storageID] = ch
	}
	return ch
}

// Finished wakes every Wait of storageID so far.
func (f *ChunkFinishes) Finished(storageID int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ch, ok := f.waiting[storageID]; ok {
		close(ch)
		delete(f.waiting, storageID)
	}
}

// dispatch queues the page's task files as chunks of ChunkFiles files.
func (s *syncer) dispatch(ctx context.Context, jobs []fileJob) error {
	var chunks [][]Object
	for len(jobs) > 0 {
		n := min(len(jobs), s.src.ChunkFiles)
		chunk := make([]Object, n)
		for i, j := range jobs[:n] {
			chunk[i] = j.obj
		}
		chunks = append(chunks, chunk)
		jobs = jobs[n:]
	}
	if err := s.src.FanOut.DispatchChunks(ctx, s.src.StorageID, s.src.Generation, chunks); err != nil {
		return err
	}
	s.dispatched = true
	return nil
}

// awaitChunks waits until every chunk of this generation is finished,
// keeping their counts in the progress meanwhile, and queues again the
// files of chunks whose worker died. Chunks queued by an earlier attempt of
// the same sync are waited for too: they are part of it.
func (s *syncer) awaitChunks(ctx context.Context) error {
	t := time.NewTicker(s.src.ChunkPoll)
	defer t.Stop()
	pings := pingWatch{}
	for {
		finished := s.src.FanOut.ChunkFinished(s.src.StorageID) // before the look, so no finish falls between
		st, err := s.src.FanOut.SyncChunks(ctx, s.src.StorageID, s.src.Generation, s.src.MaxFailures)
		if err != nil {
			return err
		}
		if stale := pings.stale(st.Started, time.Now(), s.src.ChunkStaleAfter); len(stale) > 0 {
			if err := s.src.FanOut.RequeueChunks(ctx, stale); err != nil {
				return err
			}
			continue // the requeued chunks are pending again
		}
		s.mu.Lock()
		s.chunks = st.Progress
		s.mu.Unlock()
		if st.Err != nil {
			return st.Err
		}
		if st.Pending == 0 {
			return nil
		}
		if st.Pending > chunkWakeWithin {
			finished = nil // a nil channel never delivers
		}
		select {
		case <-t.C:
		case <-finished:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// pingWatch remembers, for each started chunk, its last ping count and
// when this process first saw it.
type pingWatch map[int64]pingSeen

// pingSeen is a ping count and when it was first seen.
type pingSeen struct {
	pings int64
	since time.Time
}

// stale updates w with started and returns the chunks whose count has not
// moved for staleAfter; chunks no longer started are forgotten.
func (w pingWatch) stale(started map[int64]int64, now time.Time, staleAfter time.Duration) []int64 {
	var out []int64
	for id := range w {
		if _, ok := started[id]; !ok {
			delete(w, id)
		}
	}
	for id, n := range started {
		seen, ok := w[id]
		switch {
		case !ok || seen.pings != n:
			w[id] = pingSeen{n, now}
		case now.Sub(seen.since) >= staleAfter:
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// ImportChunk imports one chunk of task files queued by a listing job's
// FanOut, exactly as the listing job would have: links are looked up again
// (a retried chunk skips what it already created), files are downloaded
// Concurrency at a time and written in batches. The returned progress
// holds the chunk's file and task counts only; the keys were counted by
// the listing. Like Sync, a problem of one file is recorded in the progress
// and an error of the whole chunk is returned.
func ImportChunk(ctx context.Context, src *Source, objs []Object, opener Opener, sink Sink) (Progress, error) {
	if src == nil || src.UseBlobURLs || opener == nil || sink == nil {
		return Progress{}, blobmark.Errorf(blobmark.EINTERNAL, "importer: ImportChunk needs a Tasks-mode source, an opener and a sink")
	}
	run := *src
	run.fillDefaults()
	run.FanOut = nil // a chunk reads its files itself
	s := &syncer{src: &run, opener: opener, sink: sink}
	err := s.withWriter(ctx, func(wctx context.Context, w *writer) error { return s.page(wctx, w, objs) })
	p := s.snapshot()
	p.KeysListed, p.KeysSkipped = 0, 0
	return p, err
}

// add adds q's file and task counts and failures to p, keeping at most
// maxFailures failures; key counts are the listing's own and stay.
func (p *Progress) add(q Progress, maxFailures int) {
	p.FilesRead += q.FilesRead
	p.FilesFailed += q.FilesFailed
	p.TasksCreated += q.TasksCreated
	p.TasksExisted += q.TasksExisted
	p.TasksUpdated += q.TasksUpdated
	p.TasksKept += q.TasksKept
	p.TasksRemoved += q.TasksRemoved
	p.TasksMarkedMissing += q.TasksMarkedMissing
	p.TasksRestored += q.TasksRestored
	p.FailuresOmitted += q.FailuresOmitted
	for _, f := range q.Failures {
		p.addFailure(f, maxFailures)
	}
}

// Chunk is one queued chunk of a fanned-out sync, as its job reads it.
type Chunk struct {
	ID         int64
	StorageID  int64
	Generation int64
	Objects    []Object
	// Finished is set once the chunk's counts (or its error) are recorded;
	// a redelivered job finds it set and has nothing to do.
	Finished bool
}
