package sqlstore_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/internal/testclock"
	"github.com/blobmark/blobmark/sqlstore"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// newDatasetStorage creates, in a new image project, a target storage
// exporting a YOLO dataset every minutes (no dataset format when format
// is "").
func newDatasetStorage(t *testing.T, db *sqlstore.DB, format string, minutes int) *blobmark.TargetStorage {
	t.Helper()
	p := &blobmark.Project{Title: "p", LabelConfig: `<View><Image name="img" value="$image"/><RectangleLabels name="l" toName="img"><Label value="a"/></RectangleLabels></View>`}
	if err := db.CreateProject(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	s := &blobmark.TargetStorage{ProjectID: p.ID, Type: "azure", Container: "c", DatasetFormat: format, DatasetIntervalMinutes: minutes,
		Connection: blobmark.Connection{"auth_type": "account_key", "account_name": "acct"},
		Secrets:    blobmark.Secrets{"account_key": "k=="}}
	if err := db.CreateTargetStorage(t.Context(), s, false); err != nil {
		t.Fatal(err)
	}
	return s
}

// datasetJobs returns the storage's dataset export jobs.
func datasetJobs(t *testing.T, db *sqlstore.DB, id int64) []*rivertype.JobRow {
	t.Helper()
	res, err := db.River().JobList(t.Context(), river.NewJobListParams().Kinds(blobmark.ExportDatasetJob{}.Kind()).First(1000))
	if err != nil {
		t.Fatal(err)
	}
	var out []*rivertype.JobRow
	for _, j := range res.Jobs {
		var a blobmark.ExportDatasetJob
		if json.Unmarshal(j.EncodedArgs, &a) == nil && a.StorageID == id {
			out = append(out, j)
		}
	}
	return out
}

// finishDatasetExport ends the storage's queued dataset export as its
// worker would: the job leaves the queue (cancelled, the state the
// insert-only client can finalize a job in) and the state is completed.
func finishDatasetExport(t *testing.T, db *sqlstore.DB, id int64) {
	t.Helper()
	for _, j := range datasetJobs(t, db, id) {
		if j.FinalizedAt == nil {
			if _, err := db.River().JobCancel(t.Context(), j.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := db.SetTargetDatasetState(t.Context(), id, blobmark.DatasetState{Status: blobmark.StatusCompleted}); err != nil {
		t.Fatal(err)
	}
}

// TestScheduledDatasetExport plays scheduler ticks on the test clock
// against a storage exporting its dataset every two minutes, beside
// storages whose schedule is off (interval 0, or no dataset format). The
// export is queued at the first tick, never again while it is queued or
// running, and due again exactly when the interval (less the half tick of
// slack enqueueDue explains) has passed since it was last queued, by the
// schedule or by a sync; setting the interval to 0 turns it off.
func TestScheduledDatasetExport(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			clock := testclock.New(t0)
			db := open(t, prepareClocked(t, b, clock))
			ctx := t.Context()
			s := newDatasetStorage(t, db, "YOLO", 2)
			off := newDatasetStorage(t, db, "YOLO", 0)
			noFormat := newDatasetStorage(t, db, "", 1)
			if got, err := db.FindTargetStorageByID(ctx, s.ID); err != nil || got.DatasetIntervalMinutes != 2 {
				t.Fatalf("stored interval: %+v, %v", got, err)
			}
			for _, minutes := range []int{-1, blobmark.MaxSyncIntervalMinutes + 1} {
				bad := *s
				bad.DatasetIntervalMinutes = minutes
				if _, err := db.UpdateTargetStorage(ctx, &bad); blobmark.ErrorCode(err) != blobmark.EINVALID || err.(*blobmark.Error).Field != "dataset_interval_minutes" {
					t.Errorf("interval %d: %v, want EINVALID on dataset_interval_minutes", minutes, err)
				}
			}
			tickAt := func(at time.Time, want int) {
				t.Helper()
				clock.Set(at)
				if n, err := db.EnqueueDueDatasetExports(ctx, tick); err != nil || n != want {
					t.Fatalf("tick at t0+%s: enqueued %d, %v; want %d", at.Sub(t0), n, err, want)
				}
			}
			due := 2*time.Minute - tick/2 // after the last queued export

			tickAt(t0, 1) // never exported
			tickAt(t0, 0) // another replica, same tick
			if n := len(datasetJobs(t, db, s.ID)); n != 1 {
				t.Fatalf("%d dataset jobs after the first tick, want 1", n)
			}
			if got, _ := db.FindTargetStorageByID(ctx, s.ID); got.Dataset.Status != blobmark.StatusQueued {
				t.Fatalf("dataset state %+v, want queued", got.Dataset)
			}
			// Due, but still queued, then running: not queued again.
			tickAt(t0.Add(due), 0)
			if err := db.SetTargetDatasetState(ctx, s.ID, blobmark.DatasetState{Status: blobmark.StatusInProgress}); err != nil {
				t.Fatal(err)
			}
			tickAt(t0.Add(due), 0)
			// Done: due from the same instant on.
			finishDatasetExport(t, db, s.ID)
			tickAt(t0.Add(due-time.Millisecond), 0)
			tickAt(t0.Add(due), 1)
			finishDatasetExport(t, db, s.ID)
			t1 := t0.Add(due)
			tickAt(t1.Add(due-time.Millisecond), 0)
			// A sync queues the dataset export too, and restarts the
			// interval.
			if _, err := db.SyncTargetStorage(ctx, s.ID, false); err != nil {
				t.Fatal(err)
			}
			finishDatasetExport(t, db, s.ID)
			t2 := t1.Add(due - time.Millisecond)
			tickAt(t2.Add(due-time.Millisecond), 0)
			tickAt(t2.Add(due), 1)
			if n := len(datasetJobs(t, db, s.ID)); n != 4 {
				t.Fatalf("%d dataset jobs, want 4 (three scheduled, one synced)", n)
			}
			for _, id := range []int64{off.ID, noFormat.ID} {
				if n := len(datasetJobs(t, db, id)); n != 0 {
					t.Errorf("storage %d without a schedule got %d dataset jobs", id, n)
				}
			}
			// Turned off.
			finishDatasetExport(t, db, s.ID)
			s.DatasetIntervalMinutes = 0
			if _, err := db.UpdateTargetStorage(ctx, s); err != nil {
				t.Fatal(err)
			}
			tickAt(t2.Add(24*time.Hour), 0)
		})
	}
}

// TestScheduledDatasetExportNotQueuedAgainByALaggingReplica: replica B
// has read the due list, then replica A queues the export and it
// finishes, before B goes on to queue it. B must find it no longer due.
func TestScheduledDatasetExportNotQueuedAgainByALaggingReplica(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			clock := testclock.New(at)
			cfg := prepareClocked(t, b, clock)
			replicaA, replicaB := open(t, cfg), open(t, cfg)
			ctx := t.Context()
			s := newDatasetStorage(t, replicaA, "YOLO", 1)
			if n, err := replicaA.EnqueueDueDatasetExports(ctx, tick); err != nil || n != 1 {
				t.Fatalf("replica A enqueued %d, %v; want 1", n, err)
			}
			finishDatasetExport(t, replicaA, s.ID)
			if q, err := sqlstore.EnqueueDatasetExportIfDue(replicaB, ctx, s.ID, 1, at, tick); err != nil || q {
				t.Fatalf("replica B, lagging, queued the export again: %v, %v", q, err)
			}
			if n := len(datasetJobs(t, replicaA, s.ID)); n != 1 {
				t.Fatalf("%d dataset jobs in one interval, want 1", n)
			}
			at = at.Add(time.Minute)
			clock.Set(at)
			if q, err := sqlstore.EnqueueDatasetExportIfDue(replicaB, ctx, s.ID, 1, at, tick); err != nil || !q {
				t.Fatalf("replica B did not queue the export one interval on: %v, %v", q, err)
			}
			if n := len(datasetJobs(t, replicaA, s.ID)); n != 2 {
				t.Fatalf("%d dataset jobs after two intervals, want 2", n)
			}
		})
	}
}
