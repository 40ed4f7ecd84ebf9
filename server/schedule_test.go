package server_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/internal/azuretest"
	"github.com/blobmark/blobmark/internal/testclock"
	"github.com/blobmark/blobmark/jobs"
	"github.com/blobmark/blobmark/seal"
	"github.com/blobmark/blobmark/sqlstore"
	"github.com/riverqueue/river"
)

// TestScheduledSyncOncePerIntervalOnReplicas checks that a storage with a
// one-minute sync interval, served by three replicas on one PostgreSQL
// database, is synced exactly once per interval over several intervals:
// never twice in an interval, never skipped, and never a second time while
// its sync is still queued or running.
//
// Time is the stores' clock (sqlstore.Config.Clock), shared by the three
// replicas and moved by the test, so whether an interval has elapsed is the
// test's decision and not the machine's speed. River's periodic job is not
// started: the test plays each scheduler tick itself by calling
// EnqueueDueSourceSyncs — all the tick's job does — on every replica at
// once, several times per tick, which is more contention than River's
// leader election lets happen. The ticks that should sync fall on a grid
// one interval apart, each run some time after its grid point as River's
// poll picks it up: alternately 0.9 s and 0.1 s after it, so every other
// sync is due only 59.2 s after the previous one was queued, and must run
// all the same. Between them, ticks up to the interval less half a
// scheduler period (jobs.ScheduleInterval) after the last sync find
// nothing due.
//
// The syncs run for real: every replica works sync jobs from the shared
// queue against Azurite, and one blob is added before every sync, so each
// sync must import exactly one new task.
func TestScheduledSyncOncePerIntervalOnReplicas(t *testing.T) {
	const (
		nReplicas  = 3
		nIntervals = 6
		waves      = 3 // concurrent calls on every replica per tick
		// The intervals in which the sync is held queued, and held running,
		// while the next interval elapses.
		holdQueued  = 2
		holdRunning = 4
	)
	interval := time.Minute // sync_interval_minutes: 1
	// A held sync must not look dead (stale syncs may be replaced): the
	// clock moves at most 1.5 intervals past its last report.
	if interval+interval/2 >= sqlstore.StaleSyncAfter {
		t.Fatalf("interval %s too long for the stale-sync limit %s", interval, sqlstore.StaleSyncAfter)
	}
	env := azuretest.Start(t)
	ctx := t.Context()
	dbURL := postgresSchemaURL(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := seal.New(key)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := testclock.New(t0)

	// queuedHold stops a sync before it reads its storage (the storage stays
	// queued); listHold stops it at its first listing (in_progress).
	queuedHold, listHold := newGate(), newGate()
	opts := env.Options()
	opts.Transport = holdingTransport{next: opts.Transport, hold: listHold}
	conn := azureblob.NewConnector(opts)
	dbs := make([]*sqlstore.DB, nReplicas)
	for i := range dbs {
		db, err := sqlstore.Open(ctx, sqlstore.Config{DatabaseURL: dbURL, Clock: clock.Now, Secrets: box})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		workers := river.NewWorkers()
		if err := river.AddWorkerSafely(workers, &jobs.SyncSourceWorker{Store: holdingStore{DB: db, hold: queuedHold}, Source: azureblob.SourceOpener{Connector: conn}}); err != nil {
			t.Fatal(err)
		}
		if err := db.StartJobs(ctx, sqlstore.JobsConfig{Workers: workers, PollInterval: 50 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		dbs[i] = db
	}
	// A failing test may leave a sync held; let it go before the stores
	// stop (cleanups run last-registered first).
	t.Cleanup(func() { queuedHold.openIfClosed(); listHold.openIfClosed() })

	cfg := env.AccountKeyConfig()
	name := env.NewContainer(t)
	cont, err := conn.Container(ctx, cfg, name)
	if err != nil {
		t.Fatal(err)
	}
	p := &blobmark.Project{Title: "scheduled"}
	if err := dbs[0].CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	st := &blobmark.SourceStorage{ProjectID: p.ID, Type: "azure", Container: name, Synchronizable: true, UseBlobURLs: true,
		SyncIntervalMinutes: int(interval / time.Minute),
		Connection:          blobmark.Connection{"auth_type": string(cfg.AuthType), "account_name": cfg.AccountName, "endpoint": cfg.Endpoint},
		Secrets:             blobmark.Secrets{"account_key": blobmark.Secret(cfg.AccountKey)}}
	if err := dbs[1].CreateSourceStorage(ctx, st); err != nil {
		t.Fatal(err)
	}

	blobs := 0
	addBlob := func() {
		t.Helper()
		if _, err := cont.UploadBytes(ctx, fmt.Sprintf("%03d.png", blobs), []byte("x"), "image/png"); err != nil {
			t.Fatal(err)
		}
		blobs++
	}
	// syncRequests returns the request number of every sync job of the
	// storage, in the order they were enqueued.
	syncRequests := func() []int64 {
		t.Helper()
		rows, err := dbs[2].SQL().QueryContext(ctx, `SELECT args->>'request' FROM river_job
			WHERE kind = $1 AND args->>'storage_id' = $2 ORDER BY id`, blobmark.SyncSourceJob{}.Kind(), strconv.FormatInt(st.ID, 10))
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []int64
		for rows.Next() {
			var r int64
			if err := rows.Scan(&r); err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	syncs := 0 // sync jobs the storage should have had so far
	// tick runs the scheduler on every replica at once, waves times, and
	// checks that it enqueued want syncs in all.
	tick := func(want int) {
		t.Helper()
		var enqueued atomic.Int64
		errs := make(chan error, nReplicas*waves)
		for range waves {
			start := make(chan struct{})
			var wg sync.WaitGroup
			for _, db := range dbs {
				wg.Go(func() {
					<-start
					n, err := db.EnqueueDueSourceSyncs(ctx, jobs.ScheduleInterval)
					if err != nil {
						errs <- err
					}
					enqueued.Add(int64(n))
				})
			}
			close(start)
			wg.Wait()
		}
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		syncs += want
		if got := enqueued.Load(); got != int64(want) {
			t.Fatalf("at %s the scheduler enqueued %d sync(s) on %d replicas, want %d",
				clock.Now().Sub(t0), got, nReplicas, want)
		}
		if got := syncRequests(); len(got) != syncs {
			t.Fatalf("at %s the storage has %d sync jobs (requests %v), want %d", clock.Now().Sub(t0), len(got), got, syncs)
		}
	}
	find := func() *blobmark.SourceStorage {
		t.Helper()
		s, err := dbs[0].FindSourceStorageByID(ctx, st.ID)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// synced waits for the sync to finish and checks that it imported the
	// one blob added before it, and that no task is duplicated.
	synced := func() {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		s := find()
		for s.State.Status == blobmark.StatusQueued || s.State.Status == blobmark.StatusInProgress {
			if time.Now().After(deadline) {
				t.Fatalf("sync %d did not finish: %s %s", syncs, s.State.Status, s.State.Meta)
			}
			time.Sleep(10 * time.Millisecond)
			s = find()
		}
		if s.State.Status != blobmark.StatusCompleted || s.State.LastSyncCount == nil || *s.State.LastSyncCount != 1 {
			t.Fatalf("sync %d: status %s, count %v, meta %s; want completed with 1 new task", syncs, s.State.Status,
				s.State.LastSyncCount, s.State.Meta)
		}
		var tasks, distinct int
		if err := dbs[1].SQL().QueryRowContext(ctx, "SELECT COUNT(*), COUNT(DISTINCT data) FROM tasks WHERE project_id = $1",
			p.ID).Scan(&tasks, &distinct); err != nil {
			t.Fatal(err)
		}
		if tasks != blobs || distinct != blobs {
			t.Fatalf("after sync %d: %d tasks (%d distinct) for %d blobs", syncs, tasks, distinct, blobs)
		}
	}

	// pickup returns how long after its grid point the next syncing tick
	// runs: 0.9 s and 0.1 s in turn.
	pickups := 0
	pickup := func() time.Duration {
		pickups++
		if pickups%2 == 1 {
			return 900 * time.Millisecond
		}
		return 100 * time.Millisecond
	}
	// Never synced: the first tick syncs it.
	grid := t0 // the grid point of the last syncing tick
	clock.Set(grid.Add(pickup()))
	addBlob()
	tick(1)
	synced()
	last := clock.Now() // when the last sync was enqueued
	for k := 1; k <= nIntervals; k++ {
		// Within the interval, however often the scheduler runs: nothing.
		for _, d := range []time.Duration{time.Second, interval - jobs.ScheduleInterval/2 - time.Microsecond} {
			clock.Set(last.Add(d))
			tick(0)
		}
		addBlob()
		grid = grid.Add(interval)
		due := grid.Add(pickup())
		clock.Set(due)
		var hold *gate
		switch k {
		case holdQueued:
			hold = queuedHold
		case holdRunning:
			hold = listHold
		}
		if hold == nil {
			// Exactly one interval on: one sync, whichever replica enqueues it.
			tick(1)
			synced()
			last = due
			continue
		}
		hold.close()
		tick(1)
		hold.wait(t)
		want := map[*gate]string{queuedHold: blobmark.StatusQueued, listHold: blobmark.StatusInProgress}[hold]
		if s := find(); s.State.Status != want {
			t.Fatalf("held sync is %s, want %s", s.State.Status, want)
		}
		// The next interval elapses while the sync is held: no second sync.
		for _, d := range []time.Duration{interval, interval + interval/2} {
			clock.Set(due.Add(d))
			tick(0)
		}
		hold.open()
		synced()
		// Once it has finished, the overdue sync runs, once, at the next
		// grid point.
		addBlob()
		grid = grid.Add(2 * interval)
		clock.Set(grid.Add(pickup()))
		tick(1)
		synced()
		last = clock.Now()
	}

	// One job per request, in order, and each finished.
	got := syncRequests()
	for i, r := range got {
		if r != int64(i+1) {
			t.Fatalf("sync requests %v, want 1..%d", got, syncs)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		var open int
		if err := dbs[0].SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job WHERE kind = $1 AND state <> 'completed'`,
			blobmark.SyncSourceJob{}.Kind()).Scan(&open); err != nil {
			t.Fatal(err)
		}
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sync jobs never completed", open)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("%d syncs over %d intervals on %d replicas, %d scheduler calls per tick", syncs, nIntervals, nReplicas, nReplicas*waves)
}

// gate, while closed, stops every sync that reaches it until it is opened,
// so that the test can act while a sync is queued or running.
type gate struct {
	mu      sync.Mutex
	release chan struct{} // nil while open
	entered chan struct{}
}

func newGate() *gate { return &gate{entered: make(chan struct{}, 16)} }

func (g *gate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.release = make(chan struct{})
}

func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.release)
	g.release = nil
}

func (g *gate) openIfClosed() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.release != nil {
		close(g.release)
		g.release = nil
	}
}

// pass waits while the gate is closed.
func (g *gate) pass(ctx context.Context) error {
	g.mu.Lock()
	release := g.release
	g.mu.Unlock()
	if release == nil {
		return nil
	}
	g.entered <- struct{}{}
	select {
	case <-release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait returns once a sync is stopped at the gate.
func (g *gate) wait(t *testing.T) {
	t.Helper()
	select {
	case <-g.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("no sync reached the gate")
	}
}

// holdingStore is a replica's store as its sync worker sees it: a sync
// passes hold before it reads its storage, that is while still queued.
type holdingStore struct {
	*sqlstore.DB
	hold *gate
}

func (s holdingStore) FindSourceStorageByID(ctx context.Context, id int64) (*blobmark.SourceStorage, error) {
	if err := s.hold.pass(ctx); err != nil {
		return nil, err
	}
	return s.DB.FindSourceStorageByID(ctx, id)
}

// holdingTransport makes a sync pass hold before each blob listing, that
// is once it is in_progress.
type holdingTransport struct {
	next policy.Transporter
	hold *gate
}

func (h holdingTransport) Do(r *http.Request) (*http.Response, error) {
	if r.URL.Query().Get("comp") == "list" {
		if err := h.hold.pass(r.Context()); err != nil {
			return nil, err
		}
	}
	return h.next.Do(r)
}
