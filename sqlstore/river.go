package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"
)

// Jobs works River jobs in this process between StartJobs and StopJobs, and hands out the insert-only client for inspecting them.
type Jobs struct {
	*core

	jobsMu sync.Mutex
	worker jobWorker // works jobs between StartJobs and StopJobs
	// releaseJobs gives up the SQLite job lock (see lockJobs) that this
	// process holds while it works jobs; nil when it holds none.
	releaseJobs func()
	// jobsPool holds the connections River works jobs through on
	// PostgreSQL, its LISTEN among them; nil on SQLite.
	jobsPool *pgxpool.Pool
}

// jobWorker is a started River client, whatever its driver.
type jobWorker interface {
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
}

// jobsPoolConns is how many connections River takes on PostgreSQL to work
// jobs: one it LISTENs on, and a few for fetching, completing and its
// leader's maintenance. The jobs' own writes go through the store's pool.
const jobsPoolConns = 5

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
	// PollInterval is how often to look for new jobs besides being told of
	// them: River's SQLite driver wakes on inserts in this process, and on
	// PostgreSQL every replica listens (LISTEN) for the notification each
	// insert sends at commit. 0 means River's default (1s), or
	// PostgresPollInterval when PollOnly.
	PollInterval time.Duration
	// PollOnly finds new jobs on PostgreSQL by polling alone, for a
	// connection through PgBouncer's transaction pooling, where LISTEN
	// does not work.
	PollOnly bool
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

// riverDriver returns River's driver over database/sql: on SQLite, for
// the store's transactions, which jobs are enqueued in (Tx.insertJob),
// and for the worker; on PostgreSQL, for the migrations and queue
// inspection (Jobs.River) only, through the view of the store's pool.
func (db *core) riverDriver() riverdriver.Driver[*sql.Tx] {
	if db.dialect == SQLite {
		return riversqlite.New(db.write)
	}
	return riverdatabasesql.New(db.write)
}

// newRiverClient builds the insert-only client that every transaction
// enqueues through. It is never started, so it costs nothing on a replica
// that works no jobs. On PostgreSQL an insert also notifies the listening
// workers (pg_notify, delivered at commit). River sends at most one
// notification per queue and FetchCooldown, and a job enqueued within that
// window of the previous one would wait for the next poll: the least
// cooldown River takes keeps every job's notification.
func (db *core) newRiverClient() error {
	cfg := &river.Config{Logger: db.logger, FetchCooldown: river.FetchCooldownMin}
	c, err := river.NewClient(db.riverDriver(), cfg)
	if err != nil {
		return wrapInternal("job queue client", err)
	}
	db.river = c
	if db.pool != nil {
		if db.riverPG, err = river.NewClient(riverpgxv5.New(db.pool), cfg); err != nil {
			return wrapInternal("job queue client", err)
		}
	}
	return nil
}

// River returns the insert-only River client, for listing and inspecting
// jobs (JobList, JobGet). Insert jobs with (*Tx).InsertJob inside a store
// transaction instead, so they commit with the write that caused them.
func (db *Jobs) River() *river.Client[*sql.Tx] { return db.river }

// PostgresPollInterval is how often a replica on PostgreSQL that does not
// listen (JobsConfig.PollOnly) looks for new jobs: how long a queued export
// or sync chunk may wait for an idle worker there. A second (River's
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
func (db *Jobs) StartJobs(ctx context.Context, cfg JobsConfig) error {
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
	pollOnly := db.dialect == Postgres && cfg.PollOnly
	poll := cfg.PollInterval
	if poll <= 0 && pollOnly {
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
	// On SQLite, the jobs a killed process left running are its own to
	// resume (see resumeLeftRunning); on PostgreSQL another replica may be
	// working them, and River's rescue alone decides.
	var release func()
	if db.dialect == SQLite {
		var err error
		if release, err = db.resumeLeftRunning(ctx); err != nil {
			return err
		}
	}
	var jobsPool *pgxpool.Pool
	if db.dialect == Postgres {
		var err error
		if jobsPool, err = db.pgxPool(ctx, jobsPoolConns); err != nil {
			return wrapInternal("job queue pool", err)
		}
	}
	releaseOnError := func() {
		if release != nil {
			release()
		}
		if jobsPool != nil {
			jobsPool.Close()
		}
	}
	rc := &river.Config{
		Logger:               db.logger,
		Queues:               queues,
		Workers:              cfg.Workers,
		PeriodicJobs:         cfg.PeriodicJobs,
		FetchPollInterval:    poll,
		FetchCooldown:        cooldown,
		PollOnly:             pollOnly,
		RescueStuckJobsAfter: cfg.RescueStuckJobsAfter,
		JobTimeout:           jobTimeout,
		Middleware:           cfg.Middleware,
	}
	// On PostgreSQL River works jobs through pgx natively: it fetches,
	// completes and LISTENs on a pool of its own.
	var w jobWorker
	var err error
	if jobsPool != nil {
		w, err = startWorker(ctx, riverpgxv5.New(jobsPool), rc)
	} else {
		w, err = startWorker(ctx, db.riverDriver(), rc)
	}
	if err != nil {
		releaseOnError()
		return err
	}
	db.worker, db.releaseJobs, db.jobsPool = w, release, jobsPool
	return nil
}

// startWorker starts a River client that works jobs through driver.
func startWorker[T any](ctx context.Context, driver riverdriver.Driver[T], cfg *river.Config) (jobWorker, error) {
	c, err := river.NewClient(driver, cfg)
	if err != nil {
		return nil, wrapInternal("job queue client", err)
	}
	// The client outlives the request that started it; only StopJobs ends it.
	if err := c.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, wrapInternal("start job queue", err)
	}
	return c, nil
}

// resumeLeftRunning runs before a process starts working the jobs of a
// SQLite database. If it can take the job lock (lockJobs), no other live
// process works them, so every job still marked running was left by a
// process that died (kill -9, a crash, a power cut) and nobody else will
// ever finish it: it goes back in the queue at once instead of waiting for
// River's stuck-job rescue (--job-rescue-after, an hour by default). It
// returns the lock's release, which StopJobs calls, or nil when another
// process holds the lock, and the jobs are then left to the rescue.
func (db *Jobs) resumeLeftRunning(ctx context.Context) (release func(), err error) {
	release, ok := db.lockJobs()
	if !ok {
		db.logger.Info("another process works this database's jobs; jobs a dead process left running wait for the stuck-job rescue")
		return nil, nil
	}
	n, err := db.requeueLeftRunning(ctx)
	if err != nil {
		release()
		return nil, err
	}
	if n > 0 {
		db.logger.Info("resumed the jobs the previous process left running", "jobs", n)
	}
	return release, nil
}

// leftRunningError is recorded among the errors of a job resumed at start.
const leftRunningError = "the process working this job stopped without finishing it (killed or crashed); resumed when the server started again"

// requeueLeftRunning makes every running job with attempts left available
// now, recording why among its errors, shows the storages whose sync it was
// as queued until a worker takes it again, and frees the storages' event
// leases; it returns how many jobs it resumed. The attempt the dead process started counts, so a job that
// kills its process each time it runs stops being resumed once its
// attempts are used up, and River's rescue then discards it.
func (db *Jobs) requeueLeftRunning(ctx context.Context) (int, error) {
	const batch = 1000
	now := time.Now().UTC()
	// Every job marked running, whenever it started.
	horizon := now.Add(time.Hour)
	var resumed []int64
	err := db.inTx(ctx, "resume jobs left running", func(tx *Tx) error {
		resumed = resumed[:0]
		exec := tx.riverExecutor()
		for after := int64(0); ; {
			stuck, err := exec.JobGetStuck(ctx, &riverdriver.JobGetStuckParams{AfterID: after, Max: batch, StuckHorizon: horizon})
			if err != nil {
				return err
			}
			p := &riverdriver.JobRescueManyParams{StuckHorizon: horizon}
			for _, j := range stuck {
				after = j.ID
				if j.Attempt >= j.MaxAttempts {
					continue
				}
				e, err := json.Marshal(rivertype.AttemptError{At: now, Attempt: j.Attempt, Error: leftRunningError})
				if err != nil {
					return err
				}
				p.ID, p.Error = append(p.ID, j.ID), append(p.Error, e)
				p.FinalizedAt, p.ScheduledAt = append(p.FinalizedAt, nil), append(p.ScheduledAt, now)
				p.State = append(p.State, string(rivertype.JobStateAvailable))
			}
			if len(p.ID) > 0 {
				if _, err := exec.JobRescueMany(ctx, p); err != nil {
					return err
				}
				resumed = append(resumed, p.ID...)
			}
			if len(stuck) < batch {
				break
			}
		}
		// The event leases were held by jobs of the dead process too: the
		// resumed ones would otherwise wait for them to expire.
		if _, err := tx.exec(ctx, "UPDATE source_storage_event_leases SET holder = '', lease_until_ms = 0 WHERE holder <> ''"); err != nil {
			return err
		}
		for _, id := range resumed {
			for _, table := range []string{"source_storages", "target_storages"} {
				if _, err := tx.exec(ctx, "UPDATE "+table+" SET status = ? WHERE status = ? AND last_sync_job = ?",
					blobmark.StatusQueued, blobmark.StatusInProgress, strconv.FormatInt(id, 10)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return len(resumed), err
}

// StopJobs stops working jobs. It waits until ctx is done for jobs in flight
// to finish; then it cancels them, so River records them as failed attempts
// to be retried, by this process after a restart or by another replica. Main
// calls it on SIGTERM with its shutdown deadline, before Close.
func (db *Jobs) StopJobs(ctx context.Context) error {
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
	if db.releaseJobs != nil {
		db.releaseJobs()
	}
	if db.jobsPool != nil {
		db.jobsPool.Close()
	}
	db.worker, db.releaseJobs, db.jobsPool = nil, nil, nil
	return nil
}
