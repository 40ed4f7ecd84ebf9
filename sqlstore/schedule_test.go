package sqlstore_test

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/internal/testclock"
	"github.com/blobmark/blobmark/sqlstore"
	"github.com/riverqueue/river"
)

// tick is how often the scheduler runs (jobs.ScheduleInterval).
const tick = time.Minute

// prepareClocked returns a config of backend b whose store reads clock.
func prepareClocked(t *testing.T, b backend, clock *testclock.Clock) sqlstore.Config {
	t.Helper()
	cfg := b.prepare(t, sqlstore.Config{Clock: clock.Now})
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir() // where the secret key file is created
	}
	return cfg
}

// newScheduledStorage creates a storage synced every minutes.
func newScheduledStorage(t *testing.T, db *sqlstore.DB, minutes int) int64 {
	t.Helper()
	p := &blobmark.Project{Title: "p"}
	if err := db.CreateProject(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	s := &blobmark.SourceStorage{ProjectID: p.ID, Type: "azure", Container: "c", Synchronizable: true, SyncIntervalMinutes: minutes,
		Connection: blobmark.Connection{"auth_type": "account_key", "account_name": "acct"},
		Secrets:    blobmark.Secrets{"account_key": "k=="}}
	if err := db.CreateSourceStorage(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	return s.ID
}

// finishQueuedSync runs the storage's queued sync to completion as its
// worker would, and reports whether one was queued.
func finishQueuedSync(t *testing.T, db *sqlstore.DB, id int64) bool {
	t.Helper()
	ctx := t.Context()
	s, err := db.FindSourceStorageByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if s.State.Status != blobmark.StatusQueued {
		return false
	}
	job, err := strconv.ParseInt(*s.State.LastSyncJob, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.StartSourceSync(ctx, id, job); err != nil {
		t.Fatal(err)
	}
	if err := db.FinishSourceSync(ctx, id, 0, blobmark.StatusCompleted, 0, "", nil); err != nil {
		t.Fatal(err)
	}
	return true
}

// syncJobs counts the storage's sync jobs.
func syncJobs(t *testing.T, db *sqlstore.DB, id int64) int {
	t.Helper()
	res, err := db.River().JobList(t.Context(), river.NewJobListParams().Kinds(blobmark.SyncSourceJob{}.Kind()).First(1000))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, j := range res.Jobs {
		var a blobmark.SyncSourceJob
		if json.Unmarshal(j.EncodedArgs, &a) == nil && a.StorageID == id {
			n++
		}
	}
	return n
}

// TestScheduledSyncDueDespiteTickJitter plays scheduler ticks on an exact
// one-minute grid, each run a little after its grid point as the queue
// picks it up, and checks that a one-minute storage is queued at every tick
// and a two-minute storage at every other one. The jitter varies both
// ways: a tick run 0.8 s sooner after its grid point than the previous one
// comes 59.2 s after the last sync was queued, and must still find the
// one-minute storage due; one run 0.8 s later must not find the two-minute
// storage due a tick early. Each sync finishes at once, and the scheduler
// runs again at the same instant (another replica), which must queue
// nothing.
func TestScheduledSyncDueDespiteTickJitter(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			grid := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			clock := testclock.New(grid)
			db := open(t, prepareClocked(t, b, clock))
			ctx := t.Context()
			every1, every2 := newScheduledStorage(t, db, 1), newScheduledStorage(t, db, 2)
			ms := time.Millisecond
			for k, step := range []struct {
				jitter time.Duration // how long after its grid point the tick runs
				want   []int64
			}{
				{100 * ms, []int64{every1, every2}}, // never synced
				{900 * ms, []int64{every1}},         // 60.8 s on
				{900 * ms, []int64{every1, every2}}, // 60.0 s on; 120.8 s on
				{100 * ms, []int64{every1}},         // 59.2 s on
				{500 * ms, []int64{every1, every2}}, // 60.4 s on; 119.6 s on
				{900 * ms, []int64{every1}},         // 60.4 s on; 60.4 s on
			} {
				at := grid.Add(time.Duration(k)*tick + step.jitter)
				clock.Set(at)
				n, err := db.EnqueueDueSourceSyncs(ctx, tick)
				if err != nil {
					t.Fatal(err)
				}
				var got []int64
				for _, id := range []int64{every1, every2} {
					if finishQueuedSync(t, db, id) {
						got = append(got, id)
					}
				}
				if n != len(step.want) || fmt.Sprint(got) != fmt.Sprint(step.want) {
					t.Fatalf("tick %d (grid +%s): enqueued %d, queued storages %v; want %v (every1 %d, every2 %d)",
						k, at.Sub(grid), n, got, step.want, every1, every2)
				}
				if n, err := db.EnqueueDueSourceSyncs(ctx, tick); err != nil || n != 0 {
					t.Fatalf("tick %d run again after its syncs finished: enqueued %d, %v; want 0", k, n, err)
				}
			}
		})
	}
}

// TestScheduledSyncNotQueuedAgainByALaggingReplica: replica B's scheduler
// has read the due list, then replica A's queues the storage, and the sync
// finishes, before B goes on to queue it. B must find it no longer due,
// though it is neither queued nor running any more.
func TestScheduledSyncNotQueuedAgainByALaggingReplica(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			clock := testclock.New(at)
			cfg := prepareClocked(t, b, clock)
			replicaA, replicaB := open(t, cfg), open(t, cfg)
			ctx := t.Context()
			id := newScheduledStorage(t, replicaA, 1)
			// Both read the storage as due (never synced); A queues it and
			// its sync runs.
			if n, err := replicaA.EnqueueDueSourceSyncs(ctx, tick); err != nil || n != 1 {
				t.Fatalf("replica A enqueued %d, %v; want 1", n, err)
			}
			if !finishQueuedSync(t, replicaA, id) {
				t.Fatal("replica A queued no sync")
			}
			// B goes on with what it read.
			if q, err := sqlstore.EnqueueIfDue(replicaB, ctx, id, 1, at, tick); err != nil || q {
				t.Fatalf("replica B, lagging, queued the storage again: %v, %v", q, err)
			}
			if n := syncJobs(t, replicaA, id); n != 1 {
				t.Fatalf("%d sync jobs in one interval, want 1", n)
			}
			// One interval on, B's step queues it.
			at = at.Add(time.Minute)
			clock.Set(at)
			if q, err := sqlstore.EnqueueIfDue(replicaB, ctx, id, 1, at, tick); err != nil || !q {
				t.Fatalf("replica B did not queue the storage one interval on: %v, %v", q, err)
			}
			if n := syncJobs(t, replicaA, id); n != 2 {
				t.Fatalf("%d sync jobs after two intervals, want 2", n)
			}
		})
	}
}

// TestScheduledSyncOverlongIntervalNotDueEveryTick: an interval the API
// refuses, longer than blobmark.MaxSyncIntervalMinutes, that a database
// written before the bound may hold, is a long interval, not one that
// overflows into a storage due on every tick. 2^31-1 minutes fits both
// stores' column and overflows a time.Duration.
func TestScheduledSyncOverlongIntervalNotDueEveryTick(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			clock := testclock.New(at)
			db := open(t, prepareClocked(t, b, clock))
			ctx := t.Context()
			id := newScheduledStorage(t, db, math.MaxInt32)
			if n, err := db.EnqueueDueSourceSyncs(ctx, tick); err != nil || n != 1 || !finishQueuedSync(t, db, id) {
				t.Fatalf("first tick enqueued %d, %v; want the never-synced storage", n, err)
			}
			for k := 1; k <= 3; k++ {
				clock.Set(at.Add(time.Duration(k) * tick))
				if n, err := db.EnqueueDueSourceSyncs(ctx, tick); err != nil || n != 0 {
					t.Fatalf("tick %d enqueued %d, %v; want nothing for a year", k, n, err)
				}
			}
			// Held at the bound, it is due again a year on.
			clock.Set(at.Add(blobmark.MaxSyncIntervalMinutes * time.Minute))
			if n, err := db.EnqueueDueSourceSyncs(ctx, tick); err != nil || n != 1 {
				t.Fatalf("a year on enqueued %d, %v; want the storage", n, err)
			}
		})
	}
}
