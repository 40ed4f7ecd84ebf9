package jobs_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
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

// eventRecorder records the batches the processing workers apply, and how
// many apply at once.
type eventRecorder struct {
	mu      sync.Mutex
	batches []string
	active  atomic.Int32
	most    atomic.Int32
}

func (r *eventRecorder) enter(events []blobmark.BlobEvent) {
	n := r.active.Add(1)
	for {
		m := r.most.Load()
		if n <= m || r.most.CompareAndSwap(m, n) {
			break
		}
	}
	var keys []string
	for _, e := range events {
		keys = append(keys, e.Key)
	}
	r.mu.Lock()
	r.batches = append(r.batches, strings.Join(keys, ","))
	r.mu.Unlock()
}

func (r *eventRecorder) applied() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.batches...)
}

// startEventJobs works the event jobs of f's store with River, as the
// server does, but with a sweep that never comes again after its first
// run, which it waits for: only the processing jobs that pushes enqueue
// can apply events.
func (f *syncFixture) startEventJobs(w *jobs.ProcessStorageEventsWorker) {
	f.t.Helper()
	if _, err := f.db.ConfigureStorageEvents(f.t.Context(), f.storage.ID, true, false, nil); err != nil {
		f.t.Fatal(err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	river.AddWorker(workers, &jobs.SweepStorageEventsWorker{Store: f.db})
	err := f.db.StartJobs(f.t.Context(), sqlstore.JobsConfig{Workers: workers, PollInterval: 20 * time.Millisecond,
		PeriodicJobs: []*river.PeriodicJob{jobs.EventSweepPeriodicJob(10 * time.Hour)}})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { f.db.StopJobs(context.Background()) })
	// The sweep runs once as the jobs start, then not for hours.
	f.waitFor("the first sweep", func() bool {
		res, err := f.db.River().JobList(f.t.Context(), river.NewJobListParams().
			Kinds(blobmark.SweepStorageEventsJob{}.Kind()).States(rivertype.JobStateCompleted))
		if err != nil {
			f.t.Fatal(err)
		}
		return len(res.Jobs) > 0
	})
}

// accept persists one pushed event as the webhook does.
func (f *syncFixture) accept(ctx context.Context, id, key string, seq int) error {
	parsed, err := importer.ParseEvents([]byte(gridEvent(id, "BlobCreated", f.name, key, seq)))
	if err != nil {
		return err
	}
	return f.db.AcceptStorageEvents(ctx, f.storage.ID, parsed.Events)
}

// eventJobs lists the storage's processing jobs that are not finished.
func (f *syncFixture) eventJobs(ctx context.Context) ([]*rivertype.JobRow, error) {
	res, err := f.db.River().JobList(ctx, river.NewJobListParams().Kinds(blobmark.ProcessStorageEventsJob{}.Kind()).
		States(rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
			rivertype.JobStateRunning, rivertype.JobStateScheduled).First(100))
	if err != nil {
		return nil, err
	}
	return res.Jobs, nil
}

// waitFor polls cond until it holds; the deadline only keeps a broken
// queue from hanging the run.
func (f *syncFixture) waitFor(what string, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			f.t.Fatalf("still waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An event committed after the processing job's last look at the pending
// events, while River still counts that job as running, gets a job of its
// own and is applied without waiting for the sweep.
func TestEventPushedWhileTheJobFinishesIsAppliedAtOnce(t *testing.T) {
	f := newSyncFixture(t, nil)
	rec := &eventRecorder{}
	var once sync.Once
	var jobsAfterPush int
	w := &jobs.ProcessStorageEventsWorker{Store: f.db, Source: azureblob.SourceOpener{Connector: f.conn},
		Applying: func(ctx context.Context, _ int64, events []blobmark.BlobEvent) {
			rec.enter(events)
			rec.active.Add(-1)
		},
		Drained: func(ctx context.Context, _ int64) {
			once.Do(func() {
				if err := f.accept(ctx, "e2", "b.png", 2); err != nil {
					t.Errorf("accept during the drained job: %v", err)
					return
				}
				// Completed counts too: under load the new job can take the
				// released lease and finish before this listing runs.
				res, err := f.db.River().JobList(ctx, river.NewJobListParams().Kinds(blobmark.ProcessStorageEventsJob{}.Kind()).
					States(rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
						rivertype.JobStateRunning, rivertype.JobStateScheduled, rivertype.JobStateCompleted).First(100))
				if err != nil {
					t.Errorf("list jobs: %v", err)
					return
				}
				jobsAfterPush = len(res.Jobs)
			})
		}}
	f.startEventJobs(w)
	if err := f.accept(t.Context(), "e1", "a.png", 1); err != nil {
		t.Fatal(err)
	}
	f.waitFor("both events' tasks", func() bool { return len(f.tasks()) == 2 })
	f.wantTasks("a.png", "b.png")
	if jobsAfterPush != 2 {
		t.Fatalf("%d processing jobs after the push beside the running one, want 2 (it and a new one)", jobsAfterPush)
	}
	if got := rec.applied(); strings.Join(got, " ") != "a.png b.png" {
		t.Fatalf("applied batches %q, want a.png then b.png", got)
	}
	// The counter is written in its own transaction after the batch's tasks
	// commit, so it may trail the tasks by a moment.
	var applied int64
	f.waitFor("the applied counter", func() bool {
		ev, err := f.db.FindStorageEvents(t.Context(), f.storage.ID)
		if err != nil {
			t.Fatal(err)
		}
		applied = int64(ev.Applied)
		return applied >= 2
	})
	if applied != 2 {
		t.Fatalf("applied counter %d, want 2", applied)
	}
}

// Two processing jobs of one storage never apply at once: the second
// snoozes while the first holds the lease, and every batch is applied
// once, in order.
func TestEventJobsOfAStorageTakeTurns(t *testing.T) {
	f := newSyncFixture(t, nil)
	rec := &eventRecorder{}
	holding, release := make(chan struct{}), make(chan struct{})
	var first sync.Once
	w := &jobs.ProcessStorageEventsWorker{Store: f.db, Source: azureblob.SourceOpener{Connector: f.conn}, Snooze: 20 * time.Millisecond,
		Applying: func(ctx context.Context, _ int64, events []blobmark.BlobEvent) {
			rec.enter(events)
			defer rec.active.Add(-1)
			first.Do(func() {
				close(holding)
				<-release
			})
		}}
	f.startEventJobs(w)
	ctx := t.Context()
	if err := f.accept(ctx, "e1", "a.png", 1); err != nil {
		t.Fatal(err)
	}
	<-holding // the first job holds the lease, inside its batch
	if err := f.accept(ctx, "e2", "b.png", 2); err != nil {
		t.Fatal(err)
	}
	var second *rivertype.JobRow
	f.waitFor("a second job that snoozed", func() bool {
		list, err := f.eventJobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range list {
			if j.State != rivertype.JobStateRunning && strings.Contains(string(j.Metadata), `"snoozes"`) {
				second = j
				return true
			}
		}
		return false
	})
	if second.Attempt != 0 {
		// A snooze gives the attempt back: waiting never exhausts a job.
		t.Fatalf("snoozed job at attempt %d", second.Attempt)
	}
	if got := rec.applied(); strings.Join(got, " ") != "a.png" {
		t.Fatalf("applied while the first job held the lease: %q", got)
	}
	close(release)
	f.waitFor("both events' tasks", func() bool { return len(f.tasks()) == 2 })
	f.waitFor("the jobs to finish", func() bool {
		list, err := f.eventJobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(list) == 0
	})
	f.wantTasks("a.png", "b.png")
	if m := rec.most.Load(); m != 1 {
		t.Fatalf("%d jobs applied events at once", m)
	}
	if got := rec.applied(); strings.Join(got, " ") != "a.png b.png" {
		t.Fatalf("applied batches %q, want a.png then b.png", got)
	}
	ev, err := f.db.FindStorageEvents(t.Context(), f.storage.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Applied != 2 {
		t.Fatalf("applied counter %d, want 2", ev.Applied)
	}
}
