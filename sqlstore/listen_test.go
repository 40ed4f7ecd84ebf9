package sqlstore_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/jobs"
	"github.com/blobmark/blobmark/sqlstore"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// TestPostgresWorkersAreToldOfNewJobs runs two replicas on one PostgreSQL
// database: one works jobs but polls only once an hour, the other enqueues
// a job (deleting a project enqueues its purge). The job runs, so the
// worker heard of it (LISTEN/NOTIFY at the insert's commit), not from a
// poll. The first job warms the worker up: whatever its start-up fetch
// found, the second can only arrive by notification.
func TestPostgresWorkersAreToldOfNewJobs(t *testing.T) {
	cfg := preparePostgres(t, sqlstore.Config{})
	worker, other := open(t, cfg), open(t, cfg)
	runs := new(atomic.Int32)
	workers := river.NewWorkers()
	river.AddWorker[blobmark.PurgeProjectJob](workers, countingPurgeWorker{&jobs.PurgeProjectWorker{Store: worker, BatchSize: 10}, runs})
	if err := worker.StartJobs(t.Context(), sqlstore.JobsConfig{Workers: workers, PollInterval: time.Hour}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := worker.StopJobs(context.Background()); err != nil {
			t.Errorf("StopJobs: %v", err)
		}
	})
	for i := range 2 {
		p, err := seedProject(t.Context(), other, 3)
		if err != nil {
			t.Fatal(err)
		}
		if err := other.DeleteProject(t.Context(), p.ID); err != nil {
			t.Fatal(err)
		}
		list := purgeJobs(t, other)
		job := waitJob(t, other, list[len(list)-1].ID)
		if job.State != rivertype.JobStateCompleted || runs.Load() != int32(i+1) {
			t.Fatalf("purge job %d: %s after %d runs; errors %v", i+1, job.State, runs.Load(), job.Errors)
		}
		wantPurged(t, other, p.ID)
		// Past any fetch the first job's completion may trigger.
		time.Sleep(500 * time.Millisecond)
	}
}
