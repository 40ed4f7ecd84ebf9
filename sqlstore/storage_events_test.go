package sqlstore_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/sqlstore"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

func TestStorageEvents(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			cfg := b.prepare(t, sqlstore.Config{})
			if cfg.DataDir == "" {
				cfg.DataDir = t.TempDir()
			}
			db := open(t, cfg)
			t.Run("Lease", func(t *testing.T) { testEventLease(t, db) })
			t.Run("JobBesideARunningOne", func(t *testing.T) { testEventJobBesideARunningOne(t, db) })
		})
	}
}

func testEventLease(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	s, other := newStorage(t, db), newStorage(t, db)
	acquire := func(id int64, holder string, ttl time.Duration, want bool) {
		t.Helper()
		ok, err := db.AcquireStorageEventLease(ctx, id, holder, ttl)
		if err != nil {
			t.Fatal(err)
		}
		if ok != want {
			t.Fatalf("%s acquiring the lease of %d: %v, want %v", holder, id, ok, want)
		}
	}
	renew := func(holder string, want bool) {
		t.Helper()
		ok, err := db.RenewStorageEventLease(ctx, s.ID, holder, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if ok != want {
			t.Fatalf("%s renewing the lease: %v, want %v", holder, ok, want)
		}
	}
	release := func(holder string) {
		t.Helper()
		if err := db.ReleaseStorageEventLease(ctx, s.ID, holder); err != nil {
			t.Fatal(err)
		}
	}
	acquire(s.ID, "a", time.Minute, true)
	acquire(s.ID, "b", time.Minute, false)
	acquire(other.ID, "b", time.Minute, true) // leases are per storage
	acquire(s.ID, "a", time.Minute, true)     // again, by its holder
	renew("a", true)
	renew("b", false)
	release("b") // not b's: nothing happens
	acquire(s.ID, "b", time.Minute, false)
	release("a")
	acquire(s.ID, "b", time.Minute, true)
	acquire(s.ID, "a", time.Minute, false)
	// A holder that stops renewing (a dead worker) loses the lease once it
	// has expired: here at once.
	release("b")
	acquire(s.ID, "b", -time.Second, true)
	acquire(s.ID, "a", time.Minute, true)
	renew("b", false)
	release("b")
	acquire(s.ID, "b", time.Minute, false)
}

// testEventJobBesideARunningOne simulates the states River leaves the
// processing jobs in: an event pushed while a job runs (it may be past its
// last look at the pending events) gets a job of its own; a job that waits
// and is due takes further events; one snoozed for long does not.
func testEventJobBesideARunningOne(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	s := newStorage(t, db)
	started := make(chan int64)
	unblock := make(chan struct{})
	var snooze atomic.Bool
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, job *river.Job[blobmark.ProcessStorageEventsJob]) error {
		started <- job.ID
		if snooze.Load() {
			return river.JobSnooze(time.Hour)
		}
		<-unblock
		return nil
	}))
	if err := db.StartJobs(ctx, sqlstore.JobsConfig{Workers: workers, MaxWorkers: 1, PollInterval: pollInterval}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.StopJobs(context.Background()) })

	accept := func(key string) {
		t.Helper()
		if err := db.AcceptStorageEvents(ctx, s.ID, []blobmark.BlobEvent{{ID: key, Key: key, Order: key}}); err != nil {
			t.Fatal(err)
		}
	}
	unfinished := func() []*rivertype.JobRow {
		t.Helper()
		res, err := db.River().JobList(ctx, river.NewJobListParams().Kinds(blobmark.ProcessStorageEventsJob{}.Kind()).
			States(rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
				rivertype.JobStateRunning, rivertype.JobStateScheduled).OrderBy(river.JobListOrderByID, river.SortOrderAsc))
		if err != nil {
			t.Fatal(err)
		}
		return res.Jobs
	}
	wantJobs := func(states ...rivertype.JobState) {
		t.Helper()
		jobs := unfinished()
		var got []rivertype.JobState
		for _, j := range jobs {
			got = append(got, j.State)
		}
		if len(got) != len(states) {
			t.Fatalf("processing jobs in states %v, want %v", got, states)
		}
		for i := range got {
			if got[i] != states[i] {
				t.Fatalf("processing jobs in states %v, want %v", got, states)
			}
		}
	}

	accept("e1")
	first := <-started // running, and for River's uniqueness still there
	accept("e2")
	wantJobs(rivertype.JobStateRunning, rivertype.JobStateAvailable)
	accept("e3") // the waiting job takes it
	if n, err := db.EnqueueStorageEventJobs(ctx); err != nil || n != 0 {
		t.Fatalf("sweep enqueued %d jobs (%v), want 0", n, err)
	}
	wantJobs(rivertype.JobStateRunning, rivertype.JobStateAvailable)

	// The waiting job runs and snoozes for long: the next event is not
	// left to it.
	snooze.Store(true)
	unblock <- struct{}{}
	if second := <-started; second == first {
		t.Fatal("the first job ran again")
	}
	waitState := func(want int) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			n := 0
			for _, j := range unfinished() {
				if j.State != rivertype.JobStateRunning {
					n++
				}
			}
			if n == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d snoozed jobs, want %d", n, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitState(1)
	accept("e4") // the first job's slot is free again
	<-started
	waitState(2)
	accept("e5") // a third slot
	<-started
	waitState(3)
	// Every slot is snoozed: the next event waits for one of them (or for
	// a running holder of the lease) rather than adding jobs without end.
	accept("e6")
	if n := len(unfinished()); n != 3 {
		t.Fatalf("%d processing jobs, want the 3 snoozed", n)
	}
}
