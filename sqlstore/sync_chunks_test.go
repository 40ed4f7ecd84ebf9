package sqlstore_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/importer"
	"github.com/blobmark/blobmark/sqlstore"
	"github.com/riverqueue/river"
)

// TestSyncChunks runs the store side of a fanned-out sync on every
// backend: chunks are recorded with one job each, read back whole, finished
// once, summed with their failures capped, their first error reported, and
// deleted when the sync finishes.
func TestSyncChunks(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			cfg := b.prepare(t, sqlstore.Config{})
			cfg.DataDir = t.TempDir() // where the secret key file is created
			db := open(t, cfg)
			ctx := t.Context()
			s := newStorage(t, db)
			const gen = 41
			modified := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
			var chunks [][]importer.Object
			for c := range 3 {
				var objs []importer.Object
				for i := range 2 {
					objs = append(objs, importer.Object{Key: fmt.Sprintf("dir/%d-%d.jsonl", c, i), Size: int64(10*c + i), ETag: `"0x8D"`, LastModified: modified})
				}
				chunks = append(chunks, objs)
			}
			if err := db.DispatchChunks(ctx, s.ID, gen, chunks); err != nil {
				t.Fatal(err)
			}
			if err := db.DispatchChunks(ctx, s.ID, gen+1, chunks[:1]); err != nil { // another generation: not counted
				t.Fatal(err)
			}
			queued, err := db.River().JobList(ctx, river.NewJobListParams().Kinds(blobmark.SyncFilesJob{}.Kind()).Queues(blobmark.QueueSyncFiles))
			if err != nil || len(queued.Jobs) != 4 {
				t.Fatalf("chunk jobs on the %s queue = %d, %v; want 4", blobmark.QueueSyncFiles, len(queued.Jobs), err)
			}
			var ids []int64
			for _, j := range queued.Jobs {
				var args blobmark.SyncFilesJob
				if err := json.Unmarshal(j.EncodedArgs, &args); err != nil {
					t.Fatal(err)
				}
				c, err := db.SyncChunk(ctx, args.ChunkID)
				if err != nil {
					t.Fatal(err)
				}
				if c.Generation == gen {
					ids = append(ids, c.ID)
				}
				if c.StorageID != s.ID || c.Finished || len(c.Objects) != 2 {
					t.Fatalf("chunk = %+v", c)
				}
			}
			if len(ids) != 3 {
				t.Fatalf("chunks of generation %d = %d", gen, len(ids))
			}
			first, _ := db.SyncChunk(ctx, ids[0])
			if !reflect.DeepEqual(first.Objects, chunks[0]) && !reflect.DeepEqual(first.Objects, chunks[1]) && !reflect.DeepEqual(first.Objects, chunks[2]) {
				t.Fatalf("objects did not survive the round trip: %+v", first.Objects)
			}

			st, err := db.SyncChunks(ctx, s.ID, gen, 3)
			if err != nil || st.Pending != 3 || st.Err != nil || st.Progress.TasksCreated != 0 {
				t.Fatalf("before any chunk finished: %+v, %v", st, err)
			}
			fail := func(key string) importer.Failure { return importer.Failure{Key: key, Reason: key + ": bad"} }
			p0 := importer.Progress{FilesRead: 2, TasksCreated: 7, TasksExisted: 1, Failures: []importer.Failure{fail("a"), fail("b")}, FailuresOmitted: 4}
			p1 := importer.Progress{FilesRead: 1, FilesFailed: 1, TasksCreated: 3, TasksUpdated: 2, TasksKept: 1, TasksRemoved: 1,
				TasksMarkedMissing: 1, TasksRestored: 1, Failures: []importer.Failure{fail("c"), fail("d")}}
			finished, other := db.ChunkFinished(s.ID), db.ChunkFinished(s.ID+1)
			if err := db.FinishSyncChunk(ctx, ids[0], p0, nil); err != nil {
				t.Fatal(err)
			}
			select {
			case <-finished:
			default:
				t.Fatal("a finished chunk did not wake its storage's waiting sync")
			}
			woken := db.ChunkFinished(s.ID)
			if err := db.FinishSyncChunk(ctx, ids[0], importer.Progress{TasksCreated: 100}, nil); err != nil { // redelivered
				t.Fatal(err)
			}
			select {
			case <-woken:
				t.Fatal("a chunk finished again woke its storage's waiting sync")
			case <-other:
				t.Fatal("a finished chunk woke another storage's waiting sync")
			default:
			}
			if err := db.FinishSyncChunk(ctx, ids[1], p1, nil); err != nil {
				t.Fatal(err)
			}
			st, err = db.SyncChunks(ctx, s.ID, gen, 3)
			if err != nil || st.Pending != 1 || st.Err != nil {
				t.Fatalf("two finished: %+v, %v", st, err)
			}
			want := importer.Progress{FilesRead: 3, FilesFailed: 1, TasksCreated: 10, TasksExisted: 1, TasksUpdated: 2, TasksKept: 1,
				TasksRemoved: 1, TasksMarkedMissing: 1, TasksRestored: 1, Failures: []importer.Failure{fail("a"), fail("b"), fail("c")}, FailuresOmitted: 5}
			if !reflect.DeepEqual(st.Progress, want) {
				t.Fatalf("sum =\n%+v, want\n%+v", st.Progress, want)
			}
			if c, _ := db.SyncChunk(ctx, ids[0]); !c.Finished {
				t.Error("a finished chunk reads as unfinished")
			}

			// Queued, the third chunk is not started; once the queue runs its
			// job it is, before any ping (its worker may die right there).
			if st, err := db.SyncChunks(ctx, s.ID, gen, 3); err != nil || len(st.Started) != 0 {
				t.Fatalf("started chunks while queued: %v, %v", st.Started, err)
			}
			var jobID int64
			if err := db.SQL().QueryRowContext(ctx, db.Rebind("SELECT job_id FROM source_sync_chunks WHERE id = ?"), ids[2]).Scan(&jobID); err != nil {
				t.Fatal(err)
			}
			if _, err := db.SQL().ExecContext(ctx, db.Rebind("UPDATE river_job SET state = 'running' WHERE id = ?"), jobID); err != nil {
				t.Fatal(err)
			}
			if st, err := db.SyncChunks(ctx, s.ID, gen, 3); err != nil || !reflect.DeepEqual(st.Started, map[int64]int64{ids[2]: 0}) {
				t.Fatalf("started chunks once its job runs: %v, %v; want chunk %d at 0 pings", st.Started, err, ids[2])
			}

			// The third chunk's worker pings twice, then dies: its count shows
			// among the started chunks, and the sync requeues it as a new chunk
			// with the same files while the old one counts nothing.
			for range 2 {
				if wanted, err := db.PingSyncChunk(ctx, ids[2]); err != nil || !wanted {
					t.Fatalf("ping of a queued chunk: %v, %v", wanted, err)
				}
			}
			st, err = db.SyncChunks(ctx, s.ID, gen, 3)
			if err != nil || !reflect.DeepEqual(st.Started, map[int64]int64{ids[2]: 2}) || st.Pending != 1 {
				t.Fatalf("started chunks %v (pending %d), %v; want chunk %d at 2 pings", st.Started, st.Pending, err, ids[2])
			}
			stale := []int64{ids[2]}
			dead, _ := db.SyncChunk(ctx, ids[2])
			if err := db.RequeueChunks(ctx, stale); err != nil {
				t.Fatal(err)
			}
			if err := db.RequeueChunks(ctx, stale); err != nil { // a second look finds it finished
				t.Fatal(err)
			}
			queued, err = db.River().JobList(ctx, river.NewJobListParams().Kinds(blobmark.SyncFilesJob{}.Kind()).First(100))
			if err != nil || len(queued.Jobs) != 5 {
				t.Fatalf("chunk jobs after the requeue = %d, %v; want 5", len(queued.Jobs), err)
			}
			var args blobmark.SyncFilesJob
			_ = json.Unmarshal(queued.Jobs[4].EncodedArgs, &args)
			again, err := db.SyncChunk(ctx, args.ChunkID)
			if err != nil || again.Generation != gen || !reflect.DeepEqual(again.Objects, dead.Objects) {
				t.Fatalf("requeued chunk %+v, %v; want the files of %+v", again, err, dead)
			}
			if wanted, err := db.PingSyncChunk(ctx, ids[2]); err != nil || wanted { // the old worker was alive after all
				t.Fatalf("ping of a requeued chunk: %v, %v; want it unwanted", wanted, err)
			}
			if err := db.FinishSyncChunk(ctx, ids[2], importer.Progress{TasksCreated: 100}, nil); err != nil {
				t.Fatal(err)
			}
			if st, err := db.SyncChunks(ctx, s.ID, gen, 3); err != nil || st.Pending != 1 || len(st.Started) != 0 || st.Progress.TasksCreated != 10 {
				t.Fatalf("after the requeue: %+v, %v", st, err)
			}
			ids[2] = again.ID

			denied := blobmark.Errorf(blobmark.EFORBIDDEN, "missing role Storage Blob Data Reader on container c")
			if err := db.FinishSyncChunk(ctx, ids[2], importer.Progress{}, denied); err != nil {
				t.Fatal(err)
			}
			st, err = db.SyncChunks(ctx, s.ID, gen, 3)
			if err != nil || st.Pending != 0 || blobmark.ErrorCode(st.Err) != blobmark.EFORBIDDEN || blobmark.ErrorMessage(st.Err) != blobmark.ErrorMessage(denied) {
				t.Fatalf("after the failed chunk: %+v, %v", st, err)
			}

			if err := db.FinishSourceSync(ctx, s.ID, gen, blobmark.StatusFailed, 0, "x", nil); err != nil {
				t.Fatal(err)
			}
			if _, err := db.SyncChunk(ctx, ids[0]); blobmark.ErrorCode(err) != blobmark.ENOTFOUND {
				t.Fatalf("chunk after the sync finished: %v, want ENOTFOUND", err)
			}
			if st, err := db.SyncChunks(ctx, s.ID, gen+1, 3); err != nil || st.Pending != 1 {
				t.Fatalf("a later sync's chunk after an earlier one finished: %+v, %v; want it kept", st, err)
			}
			if err := db.FinishSourceSync(ctx, s.ID, gen+1, blobmark.StatusCompleted, 0, "", nil); err != nil {
				t.Fatal(err)
			}
			if st, err := db.SyncChunks(ctx, s.ID, gen+1, 3); err != nil || st.Pending != 0 {
				t.Fatalf("the later sync's chunk after it finished: %+v, %v", st, err)
			}
		})
	}
}

// TestConcurrentBatchesCreateEachTaskOnce writes the same new keys from two
// transactions at once, as a chunk taken over from a slow worker does: both
// succeed, and each row becomes one task.
func TestConcurrentBatchesCreateEachTaskOnce(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			cfg := b.prepare(t, sqlstore.Config{})
			cfg.DataDir = t.TempDir()
			db := open(t, cfg)
			s := newStorage(t, db)
			const rounds, rows = 20, 3
			for r := range rounds {
				batch := &importer.Batch{Generation: 1}
				for row := range rows {
					batch.Create = append(batch.Create, importer.NewTask{Key: fmt.Sprintf("f%02d.jsonl", r), Row: row,
						Task: &blobmark.TaskImport{Data: []byte(fmt.Sprintf(`{"r": %d, "row": %d}`, r, row))}})
				}
				results := make(chan error, 2)
				created := make(chan int, 2)
				for range 2 {
					go func() {
						res, err := db.WriteBatch(t.Context(), s.ID, batch)
						results <- err
						created <- res.Created
					}()
				}
				total := 0
				for range 2 {
					if err := <-results; err != nil {
						t.Fatalf("round %d: %v", r, err)
					}
					total += <-created
				}
				if total != rows {
					t.Fatalf("round %d: the two batches created %d tasks, want %d", r, total, rows)
				}
			}
			var n int
			if err := db.SQL().QueryRowContext(t.Context(), db.Rebind("SELECT COUNT(*) FROM tasks WHERE project_id = ?"), s.ProjectID).Scan(&n); err != nil || n != rounds*rows {
				t.Fatalf("%d tasks, %v; want %d", n, err, rounds*rows)
			}
		})
	}
}
