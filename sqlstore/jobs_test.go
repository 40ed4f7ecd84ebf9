package sqlstore_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/jobs"
	"github.com/blobmark/blobmark/sqlstore"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Environment of the child process of TestJobs/…/CrashAfterCommit.
const (
	crashChildEnv       = "BLOBMARK_SQLSTORE_CRASH_CHILD"
	crashDatabaseURLEnv = "BLOBMARK_SQLSTORE_CRASH_DATABASE_URL"
	crashDataDirEnv     = "BLOBMARK_SQLSTORE_CRASH_DATA_DIR"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild()
		return // not reached: the child kills itself
	}
	if os.Getenv(dieRunningChildEnv) != "" {
		dieRunningChild()
		return // not reached either
	}
	if os.Getenv(importChildEnv) != "" {
		importChild()
		return
	}
	os.Exit(m.Run())
}

// pollInterval keeps job tests quick; nothing asserts on time.
const pollInterval = 50 * time.Millisecond

// countingPurgeWorker is the real purge worker, counting how often River
// hands it a job.
type countingPurgeWorker struct {
	*jobs.PurgeProjectWorker
	runs *atomic.Int32
}

func (w countingPurgeWorker) Work(ctx context.Context, job *river.Job[blobmark.PurgeProjectJob]) error {
	w.runs.Add(1)
	return w.PurgeProjectWorker.Work(ctx, job)
}

// startPurging starts working jobs on db with the real purge worker and
// returns its run counter.
func startPurging(t *testing.T, db *sqlstore.DB, batch int) *atomic.Int32 {
	t.Helper()
	runs := new(atomic.Int32)
	workers := river.NewWorkers()
	river.AddWorker[blobmark.PurgeProjectJob](workers, countingPurgeWorker{&jobs.PurgeProjectWorker{Store: db, BatchSize: batch}, runs})
	if err := db.StartJobs(t.Context(), sqlstore.JobsConfig{Workers: workers, PollInterval: pollInterval}); err != nil {
		t.Fatalf("StartJobs: %v", err)
	}
	t.Cleanup(func() {
		if err := db.StopJobs(context.Background()); err != nil {
			t.Errorf("StopJobs: %v", err)
		}
	})
	return runs
}

// purgeJobs lists every purge job in the queue, whatever its state.
func purgeJobs(t *testing.T, db *sqlstore.DB) []*rivertype.JobRow {
	t.Helper()
	res, err := db.River().JobList(t.Context(), river.NewJobListParams().
		Kinds(blobmark.PurgeProjectJob{}.Kind()).
		States(rivertype.JobStateAvailable, rivertype.JobStateCancelled, rivertype.JobStateCompleted,
			rivertype.JobStateDiscarded, rivertype.JobStatePending, rivertype.JobStateRetryable,
			rivertype.JobStateRunning, rivertype.JobStateScheduled).
		First(1000))
	if err != nil {
		t.Fatalf("JobList: %v", err)
	}
	return res.Jobs
}

// waitJob waits until the job with that id is finalized, and returns it.
// The deadline only keeps a broken queue from hanging the run.
func waitJob(t *testing.T, db *sqlstore.DB, id int64) *rivertype.JobRow {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		job, err := db.River().JobGet(t.Context(), id)
		if err != nil {
			t.Fatalf("JobGet: %v", err)
		}
		if job.FinalizedAt != nil {
			return job
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d still %s (attempt %d, errors %v)", id, job.State, job.Attempt, job.Errors)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countRows counts a project's rows in table, soft-deleted or not, straight
// from the database.
func countRows(t *testing.T, db *sqlstore.DB, table, column string, projectID int64) int {
	t.Helper()
	var n int
	q := db.Rebind("SELECT COUNT(*) FROM " + table + " WHERE " + column + " = ?")
	if err := db.SQL().QueryRowContext(t.Context(), q, projectID).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// seedProject creates a project with tasks carrying annotations and
// predictions, so a purge has all three kinds of rows to delete.
func seedProject(ctx context.Context, s *sqlstore.DB, tasks int) (*blobmark.Project, error) {
	p := &blobmark.Project{Title: "to purge"}
	if err := s.CreateProject(ctx, p); err != nil {
		return nil, err
	}
	imports := make([]*blobmark.TaskImport, tasks)
	for i := range imports {
		imports[i] = &blobmark.TaskImport{
			Data:        json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)),
			Annotations: []*blobmark.Annotation{{}, {WasCancelled: true}},
			Predictions: []*blobmark.Prediction{{}},
		}
	}
	if _, err := s.ImportTasks(ctx, p.ID, imports); err != nil {
		return nil, err
	}
	return p, nil
}

func wantPurged(t *testing.T, db *sqlstore.DB, projectID int64) {
	t.Helper()
	for _, c := range []struct{ table, column string }{
		{"annotations", "project_id"}, {"predictions", "project_id"}, {"tasks", "project_id"}, {"projects", "id"},
	} {
		if n := countRows(t, db, c.table, c.column, projectID); n != 0 {
			t.Fatalf("%d %s rows of project %d left after the purge", n, c.table, projectID)
		}
	}
}

func TestJobs(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			t.Run("PurgeInBatches", func(t *testing.T) { testPurgeInBatches(t, b) })
			t.Run("RolledBackNeverRuns", func(t *testing.T) { testRolledBackNeverRuns(t, b) })
			t.Run("CrashAfterCommit", func(t *testing.T) { testCrashAfterCommit(t, b) })
			t.Run("StopReleasesInFlightJobs", func(t *testing.T) { testStopReleases(t, b) })
		})
	}
}

func testPurgeInBatches(t *testing.T, b backend) {
	db := open(t, b.prepare(t, sqlstore.Config{}))
	ctx := t.Context()
	keep, err := seedProject(ctx, db, 3)
	if err != nil {
		t.Fatal(err)
	}
	gone, err := seedProject(ctx, db, 7)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteProject(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, "tasks", "project_id", gone.ID); n != 7 {
		t.Fatalf("soft delete removed rows at once: %d tasks left, want 7", n)
	}
	// A live project is never purged, even if a job names it.
	if _, err := db.PurgeProject(ctx, keep.ID, 10); blobmark.ErrorCode(err) != blobmark.ECONFLICT {
		t.Fatalf("PurgeProject(live project) = %v, want a conflict", err)
	}

	runs := startPurging(t, db, 2) // 7 tasks in batches of 2
	list := purgeJobs(t, db)
	if len(list) != 1 {
		t.Fatalf("%d purge jobs, want 1", len(list))
	}
	job := waitJob(t, db, list[0].ID)
	if job.State != rivertype.JobStateCompleted || job.Attempt != 1 || runs.Load() != 1 {
		t.Fatalf("purge job %s after %d attempts, %d runs; errors %v", job.State, job.Attempt, runs.Load(), job.Errors)
	}
	wantPurged(t, db, gone.ID)
	got, err := db.FindProjectByID(ctx, keep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.TaskNumber != 3 || countRows(t, db, "annotations", "project_id", keep.ID) != 6 {
		t.Fatalf("the purge touched another project: %+v", got)
	}
	// Running the purge again (a retry after a crash) is harmless.
	if done, err := db.PurgeProject(ctx, gone.ID, 10); err != nil || !done {
		t.Fatalf("PurgeProject(purged) = %v, %v; want done", done, err)
	}
}

func testRolledBackNeverRuns(t *testing.T, b backend) {
	var failFor atomic.Int64
	errHook := errors.New("hook refused")
	db := open(t, b.prepare(t, sqlstore.Config{}))
	sqlstore.PrependHook(db, func(ctx context.Context, tx *sqlstore.Tx, ev sqlstore.Event) error {
		if ev.Kind == sqlstore.ProjectDeleted && ev.ProjectID == failFor.Load() {
			return errHook // after the purge job was inserted in tx
		}
		return nil
	})
	ctx := t.Context()
	kept, err := seedProject(ctx, db, 3)
	if err != nil {
		t.Fatal(err)
	}
	purged, err := seedProject(ctx, db, 3)
	if err != nil {
		t.Fatal(err)
	}
	failFor.Store(kept.ID)
	if err := db.DeleteProject(ctx, kept.ID); !errors.Is(err, errHook) {
		t.Fatalf("DeleteProject with a failing hook = %v, want the hook's error", err)
	}
	if _, err := db.FindProjectByID(ctx, kept.ID); err != nil {
		t.Fatalf("a rolled-back delete hid the project: %v", err)
	}
	if n := len(purgeJobs(t, db)); n != 0 {
		t.Fatalf("a rolled-back delete left %d purge jobs", n)
	}
	// The committed delete, enqueued after the rolled-back one, runs.
	if err := db.DeleteProject(ctx, purged.ID); err != nil {
		t.Fatal(err)
	}
	runs := startPurging(t, db, 0)
	list := purgeJobs(t, db)
	if len(list) != 1 {
		t.Fatalf("%d purge jobs, want 1", len(list))
	}
	job := waitJob(t, db, list[0].ID)
	if job.State != rivertype.JobStateCompleted || runs.Load() != 1 {
		t.Fatalf("purge job %s, %d runs", job.State, runs.Load())
	}
	var args blobmark.PurgeProjectJob
	if err := json.Unmarshal(job.EncodedArgs, &args); err != nil || args.ProjectID != purged.ID {
		t.Fatalf("the job that ran purges project %d (%v), want %d", args.ProjectID, err, purged.ID)
	}
	wantPurged(t, db, purged.ID)
	got, err := db.FindProjectByID(ctx, kept.ID)
	if err != nil || got.TaskNumber != 3 || countRows(t, db, "tasks", "project_id", kept.ID) != 3 {
		t.Fatalf("the project whose delete rolled back lost rows: %+v, %v", got, err)
	}
	if n := len(purgeJobs(t, db)); n != 1 {
		t.Fatalf("%d purge jobs after the run, want 1", n)
	}
}

// testCrashAfterCommit deletes a project in a child process that dies with
// SIGKILL right after the commit, before any worker could run; a new
// process must then purge it exactly once.
func testCrashAfterCommit(t *testing.T, b backend) {
	cfg := b.prepare(t, sqlstore.Config{})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"=1", crashDatabaseURLEnv+"="+cfg.DatabaseURL, crashDataDirEnv+"="+cfg.DataDir)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v\n%s", err, out)
	}
	var projectID int64
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "deleted project "); ok {
			projectID, _ = strconv.ParseInt(id, 10, 64)
		}
	}
	if projectID == 0 {
		t.Fatalf("child did not report a deleted project:\n%s", out)
	}

	db := open(t, cfg)
	ctx := t.Context()
	if _, err := db.FindProjectByID(ctx, projectID); blobmark.ErrorCode(err) != blobmark.ENOTFOUND {
		t.Fatalf("after the crash the deleted project is visible: %v", err)
	}
	if n := countRows(t, db, "tasks", "project_id", projectID); n != 5 {
		t.Fatalf("%d tasks before any worker ran, want 5", n)
	}
	list := purgeJobs(t, db)
	if len(list) != 1 || list[0].State != rivertype.JobStateAvailable || list[0].Attempt != 0 {
		t.Fatalf("purge jobs after the crash: %d, first %+v", len(list), list)
	}
	runs := startPurging(t, db, 2)
	job := waitJob(t, db, list[0].ID)
	if job.State != rivertype.JobStateCompleted || job.Attempt != 1 || runs.Load() != 1 {
		t.Fatalf("purge job %s after %d attempts, %d runs; errors %v", job.State, job.Attempt, runs.Load(), job.Errors)
	}
	wantPurged(t, db, projectID)
	if n := len(purgeJobs(t, db)); n != 1 {
		t.Fatalf("%d purge jobs, want exactly 1", n)
	}
}

// crashChild runs in the child process: it commits a DeleteProject and dies
// before a worker could possibly run the purge (none is started).
func crashChild() {
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, sqlstore.Config{DatabaseURL: os.Getenv(crashDatabaseURLEnv), DataDir: os.Getenv(crashDataDirEnv)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child: open:", err)
		os.Exit(2)
	}
	p, err := seedProject(ctx, db, 5)
	if err == nil {
		err = db.DeleteProject(ctx, p.ID)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	fmt.Printf("deleted project %d\n", p.ID)
	_ = os.Stdout.Sync()
	self, _ := os.FindProcess(os.Getpid())
	_ = self.Kill() // SIGKILL: no deferred call, no Close, no worker
	select {}       // wait for the signal to land
}

// blockingJob is a job that runs until its context ends, to stand for work
// in flight at shutdown.
type blockingJob struct{}

func (blockingJob) Kind() string { return "test_blocking" }

type blockingWorker struct {
	river.WorkerDefaults[blockingJob]
	started chan struct{}
}

func (w *blockingWorker) Work(ctx context.Context, job *river.Job[blockingJob]) error {
	close(w.started)
	<-ctx.Done()
	return ctx.Err()
}

func testStopReleases(t *testing.T, b backend) {
	db := open(t, b.prepare(t, sqlstore.Config{}))
	ctx := t.Context()
	w := &blockingWorker{started: make(chan struct{})}
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	res, err := db.River().Insert(ctx, blockingJob{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.StartJobs(ctx, sqlstore.JobsConfig{Workers: workers, PollInterval: pollInterval}); err != nil {
		t.Fatal(err)
	}
	<-w.started
	stopCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := db.StopJobs(stopCtx); err != nil {
		t.Fatalf("StopJobs: %v", err)
	}
	job, err := db.River().JobGet(ctx, res.Job.ID)
	if err != nil {
		t.Fatal(err)
	}
	// River puts a job that shutdown interrupted back in the queue (as
	// available, without counting the attempt, in this version; as retryable
	// in older ones): never left "running" for an hour until the rescuer.
	if (job.State != rivertype.JobStateAvailable && job.State != rivertype.JobStateRetryable) || job.FinalizedAt != nil {
		t.Fatalf("after a hard stop the in-flight job is %s (attempt %d, errors %v); want it back in the queue", job.State, job.Attempt, job.Errors)
	}

	// The next start (a restarted process) works it to completion.
	workers = river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, job *river.Job[blockingJob]) error { return nil }))
	if err := db.StartJobs(ctx, sqlstore.JobsConfig{Workers: workers, PollInterval: pollInterval}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.StopJobs(context.Background()) })
	if job := waitJob(t, db, res.Job.ID); job.State != rivertype.JobStateCompleted {
		t.Fatalf("released job ended %s, want completed", job.State)
	}
}
