package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"
)

// JobsConfig says how this process works jobs. The zero value works the
// default queue with a few workers.
type JobsConfig struct {
	// Workers holds the job workers by kind (see package jobs). Required.
	Workers *river.Workers
	// Queues maps queue names to how many jobs of each run at once; nil means
	// DefaultQueues(dialect, MaxWorkers). blobmark.QueueSyncFiles is added
	// when missing.
	Queues map[string]river.QueueConfig
	// MaxWorkers sizes the default queues when Queues is nil.
	MaxWorkers int
	// PollInterval is how often to look for new jobs. River's SQLite driver
	// also wakes on inserts; PostgreSQL over database/sql only polls. 0 means
	// River's default (1s) on SQLite and PostgresPollInterval on PostgreSQL.
	PollInterval time.Duration
	// PeriodicJobs are inserted on schedule by the elected leader among the
	// replicas working jobs, so each runs once per period cluster-wide
	// (jobs.SchedulePeriodicJob drives scheduled storage syncs).
	PeriodicJobs []*river.PeriodicJob
	// RescueStuckJobsAfter is how long a job may stay running before the
	// leader presumes its process dead and hands it to another replica; 0
	// means River's default (one hour). Every job's own timeout must be
	// shorter, or a live job is run twice.
	RescueStuckJobsAfter time.Duration
	// Middleware wraps job work (metrics count outcomes with it).
	Middleware []rivertype.Middleware
}

func (db *DB) riverDriver() riverdriver.Driver[*sql.Tx] {
	if db.dialect == Postgres {
		return riverdatabasesql.New(db.write)
	}
	return riversqlite.New(db.write)
}

// newRiverClient builds the insert-only client that every transaction
// enqueues through. It is never started, so it costs nothing on a replica
// that works no jobs.
func (db *DB) newRiverClient() error {
	c, err := river.NewClient(db.riverDriver(), &river.Config{Logger: db.logger})
	if err != nil {
		return wrapInternal("job queue client", err)
	}
	db.river = c
	return nil
}

// River returns the insert-only River client, for listing and inspecting
// jobs (JobList, JobGet). Insert jobs with (*Tx).InsertJob inside a store
// transaction instead, so they commit with the write that caused them.
func (db *DB) River() *river.Client[*sql.Tx] { return db.river }

// PostgresPollInterval is how often a replica on PostgreSQL looks for new
// jobs. It cannot be woken by an insert there, so this is how long a
// queued export or sync chunk may wait for an idle worker: a second (River's
// default) would leave a replica idle between the chunks of a sync. Each
// poll is one indexed query per queue.
const PostgresPollInterval = 200 * time.Millisecond

// fetchCooldown is the least time between two fetches of a queue.
const fetchCooldown = 20 * time.Millisecond

// DefaultQueues returns the queues a process works when JobsConfig.Queues
// is nil: river.QueueDefault with maxWorkers (0 means 4 on SQLite, one
// writer, more would only queue; 10 on PostgreSQL), and
// blobmark.QueueSyncFiles with a quarter of it, at least 2 (each chunk
// reads several files at once).
func DefaultQueues(d Dialect, maxWorkers int) map[string]river.QueueConfig {
	n := maxWorkers
	if n <= 0 {
		n = 4
		if d == Postgres {
			n = 10
		}
	}
	return map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: n}, blobmark.QueueSyncFiles: {MaxWorkers: max(n/4, 2)}}
}

// StartJobs starts working jobs with cfg.Workers until StopJobs or Close.
// Register every worker before the call (jobs.Register does blobmark's).
func (db *DB) StartJobs(ctx context.Context, cfg JobsConfig) error {
	if cfg.Workers == nil {
		return blobmark.Errorf(blobmark.EINVALID, "no job workers registered")
	}
	db.jobsMu.Lock()
	defer db.jobsMu.Unlock()
	if db.worker != nil {
		return blobmark.Errorf(blobmark.ECONFLICT, "jobs are already running")
	}
	queues := DefaultQueues(db.dialect, cfg.MaxWorkers)
	if cfg.Queues != nil {
		// Sync jobs wait for their chunks: a process working syncs must
		// work the chunks' queue too, or the syncs wait forever.
		chunks := queues[blobmark.QueueSyncFiles]
		queues = maps.Clone(cfg.Queues)
		if _, ok := queues[blobmark.QueueSyncFiles]; !ok {
			queues[blobmark.QueueSyncFiles] = chunks
		}
	}
	poll := cfg.PollInterval
	if poll <= 0 && db.dialect == Postgres {
		poll = PostgresPollInterval
	}
	// The cooldown spaces the fetches a finished job triggers; River's
	// 100 ms left a worker idle for most of it between the sync chunks,
	// which take a few hundred milliseconds each.
	cooldown := fetchCooldown
	if poll > 0 {
		cooldown = min(poll, fetchCooldown)
	}
	// River insists that jobs time out before they can be rescued; with a
	// rescue shorter than its default job timeout, bound jobs to 80% of it.
	var jobTimeout time.Duration
	if r := cfg.RescueStuckJobsAfter; r > 0 && r <= river.JobTimeoutDefault {
		jobTimeout = r * 8 / 10
	}
	c, err := river.NewClient(db.riverDriver(), &river.Config{
		Logger:            db.logger,
		Queues:            queues,
		Workers:           cfg.Workers,
		PeriodicJobs:      cfg.PeriodicJobs,
		FetchPollInterval: poll,
		FetchCooldown:     cooldown,
		// Without a listener River cannot be told about new jobs on
		// PostgreSQL; it polls instead.
		PollOnly:             db.dialect == Postgres,
		RescueStuckJobsAfter: cfg.RescueStuckJobsAfter,
		JobTimeout:           jobTimeout,
		Middleware:           cfg.Middleware,
	})
	if err != nil {
		return wrapInternal("job queue client", err)
	}
	// The client outlives the request that started it; only StopJobs ends it.
	if err := c.Start(context.WithoutCancel(ctx)); err != nil {
		return wrapInternal("start job queue", err)
	}
	db.worker = c
	return nil
}

// StopJobs stops working jobs. It waits until ctx is done for jobs in flight
// to finish; then it cancels them, so River records them as failed attempts
// to be retried, by this process after a restart or by another replica. Main
// calls it on SIGTERM with its shutdown deadline, before Close.
func (db *DB) StopJobs(ctx context.Context) error {
	db.jobsMu.Lock()
	defer db.jobsMu.Unlock()
	c := db.worker
	if c == nil {
		return nil
	}
	err := c.Stop(ctx)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		hardCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		err = c.StopAndCancel(hardCtx)
	}
	if err != nil {
		return wrapInternal("stop job queue", err)
	}
	db.worker = nil
	return nil
}
