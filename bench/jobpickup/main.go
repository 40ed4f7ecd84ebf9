// Command jobpickup measures how long a job waits between the commit that
// enqueues it and a worker starting it: the delay every export, sync chunk
// and webhook adds. On SQLite River wakes the worker of the same process on
// insert; on PostgreSQL the worker LISTENs and the insert NOTIFYs at
// commit, and with -poll-only it looks every 200 ms instead (what replicas
// behind PgBouncer's transaction pooling do). The yardstick, measured in
// the same run, is one round trip to the database (SELECT 1).
//
// Run it with `go run ./bench/jobpickup [-jobs 300] [-database-url
// postgres://…] [-poll-only]` (embedded SQLite by default). It never fails
// on timing: it prints numbers.
//
// Like every program under bench/, it may import any blobmark package.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/blobmark/blobmark/bench/benchkit"
	"github.com/blobmark/blobmark/sqlstore"
	"github.com/riverqueue/river"
)

// pickupArgs is a job that only records when it started.
type pickupArgs struct{}

func (pickupArgs) Kind() string { return "bench_pickup" }

type pickupWorker struct {
	river.WorkerDefaults[pickupArgs]
	mu      sync.Mutex
	started map[int64]time.Time
	done    chan int64
}

func (w *pickupWorker) Work(_ context.Context, job *river.Job[pickupArgs]) error {
	now := time.Now()
	w.mu.Lock()
	w.started[job.ID] = now
	w.mu.Unlock()
	w.done <- job.ID
	return nil
}

func main() {
	n := flag.Int("jobs", 300, "jobs enqueued one at a time")
	databaseURL := flag.String("database-url", "", "PostgreSQL URL (default: embedded SQLite in a temporary directory)")
	pollOnly := flag.Bool("poll-only", false, "PostgreSQL: poll for new jobs instead of listening")
	flag.Parse()
	ctx := context.Background()

	store := benchkit.OpenStoreURL(ctx, *databaseURL)
	defer store.Close()
	db := store.DB
	w := &pickupWorker{started: map[int64]time.Time{}, done: make(chan int64, 1)}
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	benchkit.Check(db.StartJobs(ctx, sqlstore.JobsConfig{Workers: workers, PollOnly: *pollOnly}))
	defer db.StopJobs(ctx)

	var pickup, roundTrip []time.Duration
	for range *n {
		// Jobs arrive at random moments, not in step with any poll.
		time.Sleep(time.Duration(rand.IntN(50)) * time.Millisecond)
		start := time.Now()
		_, err := db.SQL().ExecContext(ctx, "SELECT 1")
		benchkit.Check(err)
		roundTrip = append(roundTrip, time.Since(start))
		res, err := db.River().Insert(ctx, pickupArgs{}, nil)
		benchkit.Check(err)
		committed := time.Now()
		for id := range w.done {
			if id == res.Job.ID {
				break
			}
		}
		w.mu.Lock()
		pickup = append(pickup, w.started[res.Job.ID].Sub(committed))
		w.mu.Unlock()
	}
	how := "default"
	if *pollOnly {
		how = "poll only"
	}
	fmt.Printf("blobmark job pickup (%s, %s; %d jobs enqueued one at a time, at random moments)\n\n", benchkit.DatabaseName(ctx, db), how, *n)
	fmt.Printf("| measure | p50 | p99 | p50 / round trip's p50 |\n|---|---|---|---|\n")
	rt := benchkit.Percentile(roundTrip, 50)
	for _, m := range []struct {
		name string
		d    []time.Duration
	}{{"commit → job running", pickup}, {"database round trip (limit)", roundTrip}} {
		p50 := benchkit.Percentile(m.d, 50)
		fmt.Printf("| %s | %s | %s | %.1f |\n", m.name, benchkit.Round(p50), benchkit.Round(benchkit.Percentile(m.d, 99)), float64(p50)/float64(rt))
	}
}
