package importer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
)

// memFanOut is the job queue of a fanned-out sync: each dispatched chunk is
// worked by a goroutine of its own through ImportChunk, as a worker of
// another replica would, with its own opener.
type memFanOut struct {
	t      *testing.T
	src    *Source
	opener Opener
	sink   Sink
	// twice works every chunk a second time after the first, as a chunk
	// job retried after its commit would be.
	twice bool
	// dies, when set, tells which dispatched chunks (numbered from 0) a
	// worker starts and then dies with: never finished, reported stale.
	dies func(n int) bool
	// gate, when set, holds every worker until it is closed.
	gate chan struct{}

	mu         sync.Mutex
	chunks     []*memChunk
	dispatches int
	workers    sync.WaitGroup
	finishes   ChunkFinishes
}

type memChunk struct {
	objs []Object
	done bool
	dead bool
	p    Progress
	err  error
}

func (f *memFanOut) DispatchChunks(ctx context.Context, storageID, generation int64, chunks [][]Object) error {
	if storageID != f.src.StorageID || generation != f.src.Generation {
		return fmt.Errorf("chunks for storage %d generation %d", storageID, generation)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dispatches++
	for _, objs := range chunks {
		f.queueLocked(objs)
	}
	return nil
}

func (f *memFanOut) queueLocked(objs []Object) {
	c := &memChunk{objs: objs}
	if f.dies != nil && f.dies(len(f.chunks)) {
		c.dead = true
		f.chunks = append(f.chunks, c)
		return
	}
	f.chunks = append(f.chunks, c)
	f.workers.Add(1)
	go f.work(c)
}

// RequeueChunks takes ids as 1-based positions in f.chunks.
func (f *memFanOut) RequeueChunks(ctx context.Context, ids []int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		if c := f.chunks[id-1]; !c.done {
			c.done = true
			f.queueLocked(c.objs)
		}
	}
	return nil
}

func (f *memFanOut) work(c *memChunk) {
	defer f.workers.Done()
	if f.gate != nil {
		<-f.gate
	}
	p, err := ImportChunk(context.Background(), f.src, c.objs, f.opener, f.sink)
	if f.twice && err == nil {
		again, err := ImportChunk(context.Background(), f.src, c.objs, f.opener, f.sink)
		if err != nil || again.TasksCreated != 0 || again.TasksExisted != p.TasksCreated+p.TasksExisted {
			f.t.Errorf("chunk worked again: %+v, %v; first time %+v", again, err, p)
		}
	}
	f.mu.Lock()
	c.done, c.p, c.err = true, p, err
	f.mu.Unlock()
	f.finishes.Finished(f.src.StorageID)
}

func (f *memFanOut) ChunkFinished(storageID int64) <-chan struct{} { return f.finishes.Wait(storageID) }

func (f *memFanOut) SyncChunks(ctx context.Context, storageID, generation int64, maxFailures int) (ChunkState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := ChunkState{Started: map[int64]int64{}}
	for i, c := range f.chunks {
		switch {
		case !c.done:
			st.Pending++
			if c.dead {
				st.Started[int64(i+1)] = 1 // pinged once, then silent
			}
		case c.err != nil && st.Err == nil:
			st.Err = c.err
		default:
			st.Progress.add(c.p, maxFailures)
		}
	}
	return st, nil
}

// files returns the number of files in dispatched chunks and the largest chunk.
func (f *memFanOut) files() (n, largest int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.chunks {
		n += len(c.objs)
		largest = max(largest, len(c.objs))
	}
	return n, largest
}

// refusingOpener fails the test if the listing job reads a file itself.
type refusingOpener struct{ t *testing.T }

func TestFanOutRequeuesTheChunksOfADeadWorker(t *testing.T) {
	b := newBucket()
	for i := range 25 {
		b.put(fmt.Sprintf("%02d.jsonl", i), "{\"v\": 1}\n{\"v\": 2}\n")
	}
	s := newSink()
	src, f := fanOutSource(t, 1, Options{}, b, s)
	src.ChunkStaleAfter = 20 * time.Millisecond
	f.dies = func(n int) bool { return n == 1 || n == 3 } // two of the first page's chunks
	res, err := syncFannedOut(t, src, b, s)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.check(t); got != 50 || res.TasksCreated != 50 || res.FilesRead != 25 {
		t.Fatalf("%d tasks stored; progress %+v", got, res.Progress)
	}
	if n, _ := f.files(); n != 25+10 {
		t.Errorf("%d files in chunks, want the 25 and the 10 of the two dead chunks again", n)
	}
}

func TestPingWatchFindsCountsThatStopMoving(t *testing.T) {
	w := pingWatch{}
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	const after = 30 * time.Second
	if s := w.stale(map[int64]int64{1: 1, 2: 1}, t0, after); s != nil {
		t.Fatalf("first sight: %v", s)
	}
	// Chunk 1 keeps pinging, chunk 2 falls silent; a clock far from the
	// workers' does not matter, only this process's does.
	if s := w.stale(map[int64]int64{1: 2, 2: 1}, t0.Add(after-time.Millisecond), after); s != nil {
		t.Fatalf("before the limit: %v", s)
	}
	if s := w.stale(map[int64]int64{1: 3, 2: 1, 3: 1}, t0.Add(after), after); !slices.Equal(s, []int64{2}) {
		t.Fatalf("at the limit: %v, want [2]", s)
	}
	// A finished chunk is forgotten; one seen again starts over.
	w.stale(map[int64]int64{1: 3}, t0.Add(2*after), after)
	if _, ok := w[2]; ok {
		t.Error("a chunk no longer started is still watched")
	}
	if s := w.stale(map[int64]int64{1: 3}, t0.Add(3*after), after); !slices.Equal(s, []int64{1}) {
		t.Errorf("a count unchanged since 60 s: %v, want [1]", s)
	}
}

func (o refusingOpener) Open(ctx context.Context, key string) (Download, error) {
	o.t.Errorf("the listing job read %s itself", key)
	return Download{}, errors.New("not here")
}

// fanOutSource is source with pages of 20 keys and chunks of 5 files.
func fanOutSource(t *testing.T, gen int64, o Options, b *memBucket, s *memSink) (*Source, *memFanOut) {
	src := source(t, gen, o)
	src.PageSize = 20
	src.ChunkFiles = 5
	src.ChunkPoll = 1
	f := &memFanOut{t: t, src: src, opener: b, sink: s}
	src.FanOut = f
	return src, f
}

func syncFannedOut(t *testing.T, src *Source, b *memBucket, s *memSink) (*Result, error) {
	t.Helper()
	res, err := Sync(context.Background(), src, b, refusingOpener{t}, s, nil)
	src.FanOut.(*memFanOut).workers.Wait()
	return res, err
}

func TestFanOutSpreadsTheFilesAndImportsEachOnce(t *testing.T) {
	for _, twice := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunks worked twice=%v", twice), func(t *testing.T) {
			b := newBucket()
			want := 0
			for i := range 47 {
				b.put(fmt.Sprintf("t/%03d.jsonl", i), strings.Repeat(fmt.Sprintf("{\"file\": %d}\n", i), i%3+1))
				want += i%3 + 1
			}
			b.put("t/bad.json", "{oops")
			s := newSink()
			src, f := fanOutSource(t, 1, Options{Prefix: "t"}, b, s)
			f.twice = twice
			res, err := syncFannedOut(t, src, b, s)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.check(t); got != want || res.TasksCreated != int64(want) {
				t.Fatalf("%d tasks stored, %d counted, want %d", got, res.TasksCreated, want)
			}
			if res.FilesRead != 47 || res.FilesFailed != 1 || res.KeysListed != 48 || res.Status != StatusCompletedWithErrors {
				t.Errorf("progress = %+v", res.Progress)
			}
			if len(res.Failures) != 1 || res.Failures[0].Key != "t/bad.json" {
				t.Errorf("failures = %+v", res.Failures)
			}
			if n, largest := f.files(); n != 48 || largest != 5 || f.dispatches != 3 {
				t.Errorf("dispatched %d files in %d calls, largest chunk %d; want 48 in 3 (one per page), at most 5", n, f.dispatches, largest)
			}
			if s.task("t/046.jsonl", 0).data != `{"file":46}` {
				t.Error("rows lost their data")
			}
		})
	}
}

// TestFanOutEndsWhenItsLastChunkFinishes: a sync whose last chunks finish
// in its process looks at them at once, not at its next poll, which here
// is an hour away. The chunks start only after the sync's first look, so
// it has to wait for them.
func TestFanOutEndsWhenItsLastChunkFinishes(t *testing.T) {
	b := newBucket()
	for i := range chunkWakeWithin * 5 {
		b.put(fmt.Sprintf("t/%03d.json", i), `{"v": 1}`)
	}
	s := newSink()
	src, f := fanOutSource(t, 1, Options{Prefix: "t"}, b, s)
	src.ChunkPoll = time.Hour
	f.gate = make(chan struct{})
	late := &lateFanOut{memFanOut: f}
	src.FanOut = late
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // an hour without the wake
	defer cancel()
	res, err := Sync(ctx, src, b, refusingOpener{t}, s, nil)
	f.workers.Wait()
	if err != nil {
		t.Fatalf("the sync did not end with its chunks: %v", err)
	}
	if res.TasksCreated != int64(chunkWakeWithin*5) || late.looks < 2 {
		t.Errorf("%d tasks created after %d looks, want %d after at least 2", res.TasksCreated, late.looks, chunkWakeWithin*5)
	}
}

// lateFanOut opens its workers' gate at the sync's first look at its
// chunks.
type lateFanOut struct {
	*memFanOut
	looks int
}

func (f *lateFanOut) SyncChunks(ctx context.Context, storageID, generation int64, maxFailures int) (ChunkState, error) {
	st, err := f.memFanOut.SyncChunks(ctx, storageID, generation, maxFailures)
	if f.looks++; f.looks == 1 {
		close(f.gate)
	}
	return st, err
}

func TestFanOutLeavesSmallPagesToTheListingJob(t *testing.T) {
	b := newBucket()
	for i := range 4 {
		b.put(fmt.Sprintf("%d.json", i), `{"v": 1}`)
	}
	s := newSink()
	src, f := fanOutSource(t, 1, Options{}, b, s)
	res, err := Sync(context.Background(), src, b, b, s, nil)
	if err != nil || res.TasksCreated != 4 || f.dispatches != 0 {
		t.Fatalf("res = %+v, err = %v, dispatches = %d", res, err, f.dispatches)
	}
}

func TestFanOutChunkErrorFailsTheSync(t *testing.T) {
	b := newBucket()
	for i := range 10 {
		b.put(fmt.Sprintf("%02d.json", i), `{"v": 1}`)
	}
	b.openErr["07.json"] = blobmark.Errorf(blobmark.EFORBIDDEN, "missing role Storage Blob Data Reader")
	s := newSink()
	src, _ := fanOutSource(t, 1, Options{}, b, s)
	if _, err := syncFannedOut(t, src, b, s); blobmark.ErrorCode(err) != blobmark.EFORBIDDEN {
		t.Fatalf("err = %v, want the chunk's EFORBIDDEN", err)
	}
	// The retried sync queues only what is missing.
	delete(b.openErr, "07.json")
	src, f := fanOutSource(t, 1, Options{}, b, s)
	res, err := syncFannedOut(t, src, b, s)
	if err != nil || s.check(t) != 10 || res.TasksCreated+res.TasksExisted != 10 {
		t.Fatalf("retry: %+v, %v, %d tasks", res, err, s.check(t))
	}
	if n, _ := f.files(); n != 5 {
		t.Errorf("the retry dispatched %d files, want the 5 of the failed chunk", n)
	}
}

func TestFanOutChangedAndDeletedFiles(t *testing.T) {
	b := newBucket()
	for i := range 12 {
		b.put(fmt.Sprintf("%02d.jsonl", i), "{\"v\": 0}\n{\"v\": 1}\n")
	}
	s := newSink()
	opts := Options{SyncChanged: true, SyncDeleted: true}
	src, _ := fanOutSource(t, 1, opts, b, s)
	if _, err := syncFannedOut(t, src, b, s); err != nil {
		t.Fatal(err)
	}
	annotated := s.annotate(t, "03.jsonl", 1)
	for i := range 6 {
		b.put(fmt.Sprintf("%02d.jsonl", i), "{\"v\": 10}\n")
	}
	b.del("11.jsonl")

	src, f := fanOutSource(t, 2, opts, b, s)
	res, err := syncFannedOut(t, src, b, s)
	if err != nil {
		t.Fatal(err)
	}
	// Six changed files, one row each now: the first rows are rewritten and
	// the second rows removed, but the annotated one is marked; the deleted
	// file's two rows go.
	if res.TasksUpdated != 6 || res.TasksRemoved != 5+2 || res.TasksMarkedMissing != 1 || res.TasksCreated != 0 {
		t.Fatalf("progress = %+v", res.Progress)
	}
	if n, _ := f.files(); n != 6 {
		t.Errorf("dispatched %d files, want the 6 changed ones", n)
	}
	if got := s.check(t); got != 24-2-5 {
		t.Errorf("tasks = %d, want 17", got)
	}
	if !s.tasks[annotated].missing || s.task("00.jsonl", 0).data != `{"v":10}` || s.task("11.jsonl", 0) != nil {
		t.Error("changed or deleted files were not applied")
	}
}

func TestFanOutCancelWhileWaiting(t *testing.T) {
	b := newBucket()
	for i := range 10 {
		b.put(fmt.Sprintf("%02d.json", i), `{"v": 1}`)
	}
	s := newSink()
	src, f := fanOutSource(t, 1, Options{}, b, s)
	ctx, cancel := context.WithCancel(context.Background())
	stuck := stuckFanOut{memFanOut: f, cancelAt: 3, cancel: cancel}
	src.FanOut = &stuck
	_, err := Sync(ctx, src, b, b, s, nil)
	// The look that cancels may be followed by one more, when the next
	// poll tick is as ready as the cancellation; never by more.
	if !errors.Is(err, context.Canceled) || stuck.looks < 3 || stuck.looks > 4 {
		t.Fatalf("err = %v after %d looks at the chunks, want context.Canceled after 3 (or 4)", err, stuck.looks)
	}
}

// stuckFanOut queues chunks nobody works, and cancels the sync on its
// cancelAt-th look at them.
type stuckFanOut struct {
	*memFanOut
	cancelAt, looks int
	cancel          func()
}

func (f *stuckFanOut) SyncChunks(ctx context.Context, storageID, generation int64, maxFailures int) (ChunkState, error) {
	if f.looks++; f.looks == f.cancelAt {
		f.cancel()
	}
	if err := ctx.Err(); err != nil {
		return ChunkState{}, err // as a store answers a cancelled query
	}
	return f.memFanOut.SyncChunks(ctx, storageID, generation, maxFailures)
}

func (f *stuckFanOut) DispatchChunks(ctx context.Context, storageID, generation int64, chunks [][]Object) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, objs := range chunks {
		f.chunks = append(f.chunks, &memChunk{objs: objs})
	}
	return nil
}
