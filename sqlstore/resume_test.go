package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/sqlstore"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// dieRunningChildEnv makes the test binary a process that works jobs over
// the database of crashDatabaseURLEnv / crashDataDirEnv and kills itself
// with SIGKILL in the middle of the first sync job it takes.
const dieRunningChildEnv = "BLOBMARK_SQLSTORE_DIE_RUNNING_CHILD"

// dieRunningChild is that process. Its sync worker marks the storage
// in_progress, as the real one does, then the process dies.
func dieRunningChild() {
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, sqlstore.Config{DatabaseURL: os.Getenv(crashDatabaseURLEnv), DataDir: os.Getenv(crashDataDirEnv)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "die-running child: open:", err)
		os.Exit(2)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, job *river.Job[blobmark.SyncSourceJob]) error {
		if _, err := db.StartSourceSync(ctx, job.Args.StorageID, job.ID); err != nil {
			fmt.Fprintln(os.Stderr, "die-running child: start sync:", err)
			os.Exit(2)
		}
		self, _ := os.FindProcess(os.Getpid())
		_ = self.Kill() // SIGKILL in the middle of the job: nothing is recorded
		select {}
	}))
	if err := db.StartJobs(ctx, sqlstore.JobsConfig{Workers: workers, PollInterval: pollInterval}); err != nil {
		fmt.Fprintln(os.Stderr, "die-running child: start jobs:", err)
		os.Exit(2)
	}
	select {}
}

// leftRunning requests a sync of a new storage and has a child process die
// in the middle of it, leaving its job running and the storage in_progress
// with nobody to finish them. It returns the storage and the job.
func leftRunning(t *testing.T, db *sqlstore.DB, cfg sqlstore.Config) (storageID, jobID int64) {
	t.Helper()
	ctx := t.Context()
	id := newScheduledStorage(t, db, 0)
	s, err := db.RequestSourceSync(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	jobID, _ = strconv.ParseInt(*s.State.LastSyncJob, 10, 64)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), dieRunningChildEnv+"=1", crashDatabaseURLEnv+"="+cfg.DatabaseURL, crashDataDirEnv+"="+cfg.DataDir)
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v\n%s", err, out)
	}
	job, err := db.River().JobGet(ctx, jobID)
	if err != nil {
		t.Fatal(err)
	}
	if s, err = db.FindSourceStorageByID(ctx, id); err != nil {
		t.Fatal(err)
	}
	if job.State != rivertype.JobStateRunning || job.Attempt != 1 || s.State.Status != blobmark.StatusInProgress {
		t.Fatalf("after the kill the job is %s (attempt %d) and the storage %s; want running and in_progress",
			job.State, job.Attempt, s.State.Status)
	}
	return id, jobID
}

// syncRecorder is a sync worker that records, for each sync job it works,
// the storage's status when the job reached it.
type syncRecorder struct {
	db   *sqlstore.DB
	mu   sync.Mutex
	seen map[int64]string
}

func (r *syncRecorder) Work(ctx context.Context, job *river.Job[blobmark.SyncSourceJob]) error {
	s, err := r.db.FindSourceStorageByID(ctx, job.Args.StorageID)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen[job.ID] = s.State.Status
	return nil
}

func (r *syncRecorder) status(jobID int64) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.seen[jobID]
	return s, ok
}

// startRecording starts working jobs on db with a syncRecorder.
func startRecording(t *testing.T, db *sqlstore.DB) *syncRecorder {
	t.Helper()
	r := &syncRecorder{db: db, seen: map[int64]string{}}
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(r.Work))
	if err := db.StartJobs(t.Context(), sqlstore.JobsConfig{Workers: workers, PollInterval: pollInterval}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.StopJobs(context.Background()) })
	return r
}

// waitOtherSync requests a sync of another storage and waits until it is
// done: proof that the queue is being worked, so a job left alone was left
// alone on purpose, not for lack of time.
func waitOtherSync(t *testing.T, db *sqlstore.DB) {
	t.Helper()
	s, err := db.RequestSourceSync(t.Context(), newScheduledStorage(t, db, 0))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := strconv.ParseInt(*s.State.LastSyncJob, 10, 64)
	if job := waitJob(t, db, id); job.State != rivertype.JobStateCompleted {
		t.Fatalf("the other sync ended %s", job.State)
	}
}

// TestJobsLeftRunningByADeadProcess: a process is killed in the middle of a
// sync. On SQLite, where the next process to work jobs can prove it is the
// only one (it takes the job lock), it resumes the sync at once; on
// PostgreSQL, where another replica may be working it, and on SQLite when
// another process holds the lock, the job is left to the stuck-job rescue.
func TestJobsLeftRunningByADeadProcess(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			// The data directory holds the key that seals the storages' secrets.
			cfg := b.prepare(t, sqlstore.Config{DataDir: t.TempDir()})
			db := open(t, cfg)
			ctx := t.Context()
			storage, jobID := leftRunning(t, db, cfg)
			if b.name == "sqlite" {
				// A lock held by another live process: nothing is resumed.
				other := open(t, cfg)
				lock, err := os.OpenFile(filepath.Join(cfg.DataDir, "blobmark.db.jobs-lock"), os.O_CREATE|os.O_RDWR, 0o600)
				if err != nil {
					t.Fatal(err)
				}
				if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
					t.Fatal(err)
				}
				startRecording(t, other)
				waitOtherSync(t, other)
				if job, err := other.River().JobGet(ctx, jobID); err != nil || job.State != rivertype.JobStateRunning {
					t.Fatalf("with the lock held elsewhere the dead job became %s (%v); want it left running", job.State, err)
				}
				if err := other.StopJobs(ctx); err != nil {
					t.Fatal(err)
				}
				lock.Close()
			}
			rec := startRecording(t, db)
			if b.name == "postgres" {
				waitOtherSync(t, db)
				job, err := db.River().JobGet(ctx, jobID)
				if err != nil {
					t.Fatal(err)
				}
				s, err := db.FindSourceStorageByID(ctx, storage)
				if err != nil {
					t.Fatal(err)
				}
				if job.State != rivertype.JobStateRunning || job.Attempt != 1 || s.State.Status != blobmark.StatusInProgress {
					t.Fatalf("on PostgreSQL the dead job became %s (attempt %d), the storage %s; want both untouched",
						job.State, job.Attempt, s.State.Status)
				}
				if _, ran := rec.status(jobID); ran {
					t.Fatal("on PostgreSQL the dead job was run again")
				}
				return
			}
			job := waitJob(t, db, jobID)
			if job.State != rivertype.JobStateCompleted || job.Attempt != 2 {
				t.Fatalf("resumed job ended %s after %d attempts; want completed on the second", job.State, job.Attempt)
			}
			if n := len(job.Errors); n != 1 || !strings.Contains(job.Errors[0].Error, "killed or crashed") || job.Errors[0].Attempt != 1 {
				t.Fatalf("resumed job's errors = %+v; want one saying the first attempt's process died", job.Errors)
			}
			if status, _ := rec.status(jobID); status != blobmark.StatusQueued {
				t.Fatalf("when the resumed sync started its storage was %q; want queued, not a dead in_progress", status)
			}
		})
	}
}
