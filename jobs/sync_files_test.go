package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/importer"
	"github.com/blobmark/blobmark/jobs"
	"github.com/blobmark/blobmark/sqlstore"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// TestTasksSyncFansOutThroughTheQueue runs a Tasks-mode sync whose files
// are read by chunk jobs of the queue, and checks that the result is the
// one of a sync that reads them itself: every row once, the bad file
// reported, counts exact, and no chunk left behind.
func TestTasksSyncFansOutThroughTheQueue(t *testing.T) {
	f := newSyncFixture(t, func(s *blobmark.SourceStorage) { s.UseBlobURLs = false })
	want := 0
	for i := range 30 {
		f.put(fmt.Sprintf("%02d.jsonl", i), strings.Repeat(fmt.Sprintf("{\"file\": %d}\n", i), i%4+1))
		want += i%4 + 1
	}
	f.put("30.json", "{not json")
	workers := river.NewWorkers()
	ctx := t.Context()
	must(t, river.AddWorkerSafely(workers, &jobs.SyncSourceWorker{Store: f.db, Source: azureblob.SourceOpener{Connector: f.conn},
		ProgressInterval: 50 * time.Millisecond, FanOut: f.db, ChunkFiles: 4}))
	must(t, river.AddWorkerSafely(workers, &jobs.SyncFilesWorker{Store: f.db, Source: azureblob.SourceOpener{Connector: f.conn}}))
	must(t, f.db.StartJobs(ctx, sqlstore.JobsConfig{Workers: workers, PollInterval: 20 * time.Millisecond}))
	t.Cleanup(func() { _ = f.db.StopJobs(t.Context()) })

	if _, err := f.db.RequestSourceSync(ctx, f.storage.ID); err != nil {
		t.Fatal(err)
	}
	s := waitStatus(t, f.db, f.storage.ID)
	m := meta(t, s)
	if s.State.Status != blobmark.StatusCompletedWithErrors || *s.State.LastSyncCount != want || len(f.tasks()) != want {
		t.Fatalf("state %+v, %d tasks, want %d", s.State, len(f.tasks()), want)
	}
	if m["files_read"] != 30.0 || m["files_failed"] != 1.0 || m["keys_listed"] != 31.0 || !strings.Contains(*s.State.Traceback, "30.json") {
		t.Errorf("meta %s, traceback %v", s.State.Meta, *s.State.Traceback)
	}
	if n := chunkJobs(t, f.db, 8); n != 8 { // 31 files in chunks of 4
		t.Fatalf("chunk jobs = %d; want 8, all completed", n)
	}
	var left int
	must(t, f.db.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM source_sync_chunks").Scan(&left))
	if left != 0 {
		t.Errorf("%d chunk rows left after the sync finished", left)
	}

	// A second sync has only the bad file to read again, fewer than a
	// chunk: it reads it itself and queues no chunk.
	if _, err := f.db.RequestSourceSync(ctx, f.storage.ID); err != nil {
		t.Fatal(err)
	}
	s = waitStatus(t, f.db, f.storage.ID)
	if m := meta(t, s); *s.State.LastSyncCount != 0 || len(f.tasks()) != want || m["files_failed"] != 1.0 {
		t.Errorf("re-sync: meta %s, %d tasks", s.State.Meta, len(f.tasks()))
	}
	if n := chunkJobs(t, f.db, 8); n != 8 {
		t.Errorf("chunk jobs after the re-sync = %d, want still 8", n)
	}
}

// chunkJobs returns how many chunk jobs the queue holds once want of them
// are completed, or after a few seconds: the queue records a job completed
// a moment after its work returned, which can be after the sync finished.
func chunkJobs(t *testing.T, db *sqlstore.DB, want int) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		all, err := db.River().JobList(t.Context(), river.NewJobListParams().Kinds(blobmark.SyncFilesJob{}.Kind()).First(1000))
		if err != nil {
			t.Fatal(err)
		}
		completed := 0
		for _, j := range all.Jobs {
			if j.State == rivertype.JobStateCompleted {
				completed++
			}
		}
		if completed == want && len(all.Jobs) == want || time.Now().After(deadline) {
			if completed != len(all.Jobs) {
				t.Errorf("%d of %d chunk jobs completed", completed, len(all.Jobs))
			}
			return len(all.Jobs)
		}
	}
}

// TestSyncFilesWorkerRecordsOrDropsItsChunk works chunk jobs directly: a
// chunk whose storage now refuses the key records the error for the
// waiting sync, and a chunk of a sync that is no longer running is
// cancelled without reading anything.
func TestSyncFilesWorkerRecordsOrDropsItsChunk(t *testing.T) {
	const gen = 7
	f, chunkID := oneFileChunk(t, gen)
	ctx := t.Context()
	work := func() error { return workChunk(t, f.db, f, chunkID) }

	// The storage is queued, not running generation 7: nobody waits.
	var cancel *river.JobCancelError
	if err := work(); !errors.As(err, &cancel) {
		t.Fatalf("chunk of a sync that is not running: %v, want a cancelled job", err)
	}
	if len(f.tasks()) != 0 {
		t.Fatal("a dropped chunk imported its files")
	}

	f.storage.Secrets = blobmark.Secrets{"account_key": "d3Jvbmcga2V5IG9mIHRoZSByaWdodCBsZW5ndGggZm9yIGF6dXJpdGUhIQ=="}
	must(t, f.db.UpdateSourceStorage(ctx, f.storage))
	if _, err := f.db.StartSourceSync(ctx, f.storage.ID, gen); err != nil {
		t.Fatal(err)
	}
	if err := work(); err != nil {
		t.Fatalf("a chunk error is recorded, not returned: %v", err)
	}
	st, err := f.db.SyncChunks(ctx, f.storage.ID, gen, 10)
	if err != nil || st.Pending != 0 || blobmark.ErrorCode(st.Err) != blobmark.EUNAUTHORIZED {
		t.Fatalf("chunk state %+v, %v; want its Azure error", st, err)
	}
	t.Logf("recorded: %s: %s", blobmark.ErrorCode(st.Err), blobmark.ErrorMessage(st.Err))
	var pings int64
	must(t, f.db.SQL().QueryRowContext(ctx, "SELECT pings FROM source_sync_chunks WHERE id = ?", chunkID).Scan(&pings))
	if pings == 0 {
		t.Error("the worker never pinged its chunk, so a sync could not tell it alive from dead")
	}
}

// TestSyncFilesWorkerRefusesSettingsChangedDuringTheSync saves the
// storage's settings while its sync runs: the sync's chunk must not read
// with the new ones (another container, another regex), and records why.
func TestSyncFilesWorkerRefusesSettingsChangedDuringTheSync(t *testing.T) {
	const gen = 8
	f, chunkID := oneFileChunk(t, gen)
	ctx := t.Context()
	if _, err := f.db.StartSourceSync(ctx, f.storage.ID, gen); err != nil {
		t.Fatal(err)
	}
	f.storage.RegexFilter = `.*\.jsonl`
	must(t, f.db.UpdateSourceStorage(ctx, f.storage))
	if err := workChunk(t, f.db, f, chunkID); err != nil {
		t.Fatal(err)
	}
	st, err := f.db.SyncChunks(ctx, f.storage.ID, gen, 10)
	if err != nil || blobmark.ErrorCode(st.Err) != blobmark.ECONFLICT || !strings.Contains(blobmark.ErrorMessage(st.Err), "settings changed") {
		t.Fatalf("chunk state %+v, %v; want the settings change recorded", st, err)
	}
	if n := len(f.tasks()); n != 0 {
		t.Errorf("the chunk imported %d tasks with settings its sync did not list with", n)
	}
}

// oneFileChunk makes a Tasks-mode storage with one task file, a.json, and
// dispatches it as the one chunk of sync generation gen; it returns the
// fixture and the chunk's id.
func oneFileChunk(t *testing.T, gen int64) (*syncFixture, int64) {
	t.Helper()
	f := newSyncFixture(t, func(s *blobmark.SourceStorage) { s.UseBlobURLs = false })
	f.put("a.json", `{"v": 1}`)
	must(t, f.db.DispatchChunks(t.Context(), f.storage.ID, gen, [][]importer.Object{{{Key: "a.json", Size: 8}}}))
	var id int64
	must(t, f.db.SQL().QueryRowContext(t.Context(), "SELECT id FROM source_sync_chunks").Scan(&id))
	return f, id
}

// workChunk works the chunk's job once, as River would, over store.
func workChunk(t *testing.T, store jobs.SyncFilesStore, f *syncFixture, chunkID int64) error {
	w := &jobs.SyncFilesWorker{Store: store, Source: azureblob.SourceOpener{Connector: f.conn}}
	return w.Work(t.Context(), &river.Job[blobmark.SyncFilesJob]{JobRow: jobRow(chunkID), Args: blobmark.SyncFilesJob{ChunkID: chunkID}})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// requeuingStore is the store as a chunk's worker sees it when its sync has
// just given up on the chunk and queued its files again.
type requeuingStore struct{ *sqlstore.DB }

func (s requeuingStore) PingSyncChunk(ctx context.Context, id int64) (bool, error) {
	if err := s.RequeueChunks(ctx, []int64{id}); err != nil {
		return false, err
	}
	return s.DB.PingSyncChunk(ctx, id)
}

func TestSyncFilesWorkerStopsAChunkNoLongerWanted(t *testing.T) {
	const gen = 9
	f, chunkID := oneFileChunk(t, gen)
	ctx := t.Context()
	if _, err := f.db.StartSourceSync(ctx, f.storage.ID, gen); err != nil {
		t.Fatal(err)
	}
	err := workChunk(t, requeuingStore{f.db}, f, chunkID)
	var cancel *river.JobCancelError
	if !errors.As(err, &cancel) || !strings.Contains(err.Error(), "no longer waits") {
		t.Fatalf("Work = %v, want the job cancelled because the chunk is no longer wanted", err)
	}
	if n := len(f.tasks()); n != 0 {
		t.Errorf("the unwanted chunk imported %d tasks", n)
	}
	var chunks int
	must(t, f.db.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM source_sync_chunks WHERE NOT finished").Scan(&chunks))
	if chunks != 1 {
		t.Errorf("%d unfinished chunks, want the requeued one", chunks)
	}
}
