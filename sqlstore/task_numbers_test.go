package sqlstore_test

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/sqlstore"
)

// holdImport makes the first import into a project of db's that the
// returned arm function is told of wait, with its tasks written and its
// transaction open, until release is called; held is closed once it waits.
func holdImport(t *testing.T, db *sqlstore.DB) (arm func(projectID int64), held <-chan struct{}, release func()) {
	var project atomic.Int64
	heldC, releaseC := make(chan struct{}), make(chan struct{})
	var once atomic.Bool
	sqlstore.PrependHook(db, func(ctx context.Context, tx *sqlstore.Tx, ev sqlstore.Event) error {
		if ev.Kind != sqlstore.TasksImported || ev.ProjectID != project.Load() || !once.CompareAndSwap(false, true) {
			return nil
		}
		close(heldC)
		select {
		case <-releaseC:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	var released atomic.Bool
	release = func() {
		if released.CompareAndSwap(false, true) {
			close(releaseC)
		}
	}
	t.Cleanup(release)
	return func(id int64) { project.Store(id) }, heldC, release
}

// TestImportsIntoOneProjectDoNotWaitForEachOther: on PostgreSQL an import
// holds its project's row only while it takes its task numbers, so a
// second import into the project, here from a store whose statements give
// up on a lock after two seconds, commits while the first is still open;
// the numbers stay unique, and the first import's come first.
func TestImportsIntoOneProjectDoNotWaitForEachOther(t *testing.T) {
	cfg := preparePostgres(t, sqlstore.Config{})
	db := open(t, cfg)
	ctx := t.Context()
	p := createProject(t, db, "shared")
	arm, held, release := holdImport(t, db)
	arm(p.ID)
	first := make(chan error, 1)
	var firstIDs []int64
	go func() {
		res, err := db.ImportTasks(ctx, p.ID, manyTasks(150))
		if err == nil {
			firstIDs = res.TaskIDs
		}
		first <- err
	}()
	<-held

	u, err := url.Parse(cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("lock_timeout", "2000")
	u.RawQuery = q.Encode()
	other := cfg
	other.DatabaseURL, other.SkipMigrations = u.String(), true
	second, err := open(t, other).ImportTasks(ctx, p.ID, manyTasks(150))
	if err != nil {
		t.Fatalf("an import beside an open one into the same project: %v", err)
	}
	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for i, id := range append(firstIDs, second.TaskIDs...) {
		task, err := db.FindTaskByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if task.InnerID != int64(i+1) {
			t.Fatalf("task %d of the two imports has number %d", i, task.InnerID)
		}
	}
	got, err := db.FindProjectByID(ctx, p.ID)
	if err != nil || got.TaskNumber != 300 {
		t.Fatalf("task_number = %d, %v; want 300", got.TaskNumber, err)
	}
}

// TestFailedImportGivesBackItsNumbers: numbers a failed or cancelled import
// took are taken again by the next import.
func TestFailedImportGivesBackItsNumbers(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			db := open(t, b.prepare(t, sqlstore.Config{}))
			ctx := t.Context()
			p := createProject(t, db, "numbers")
			fail := errors.New("the import's hook failed")
			var failing atomic.Bool
			var cancelImport atomic.Pointer[context.CancelFunc]
			sqlstore.PrependHook(db, func(ctx context.Context, tx *sqlstore.Tx, ev sqlstore.Event) error {
				if ev.Kind != sqlstore.TasksImported {
					return nil
				}
				if cancel := cancelImport.Swap(nil); cancel != nil {
					(*cancel)() // the client goes away mid-import
					return ctx.Err()
				}
				if failing.Load() {
					return fail
				}
				return nil
			})
			importOne := func() int64 {
				t.Helper()
				res, err := db.ImportTasks(ctx, p.ID, manyTasks(1))
				if err != nil {
					t.Fatal(err)
				}
				task, err := db.FindTaskByID(ctx, res.TaskIDs[0])
				if err != nil {
					t.Fatal(err)
				}
				return task.InnerID
			}
			if n := importOne(); n != 1 {
				t.Fatalf("first task's number = %d", n)
			}
			failing.Store(true)
			for range 3 {
				if _, err := db.ImportTasks(ctx, p.ID, manyTasks(200)); err == nil {
					t.Fatal("an import whose hook failed succeeded")
				}
			}
			failing.Store(false)
			cctx, cancel := context.WithCancel(ctx)
			cancelImport.Store(&cancel)
			if _, err := db.ImportTasks(cctx, p.ID, manyTasks(200)); err == nil {
				t.Fatal("a cancelled import succeeded")
			}
			if n := importOne(); n != 2 {
				t.Fatalf("number after three failed imports and a cancelled one = %d, want 2", n)
			}
		})
	}
}

// TestPurgeWaitsForAnOpenImport: on PostgreSQL no foreign key ties a task
// to its project, and an import does not lock its project's row until it
// commits; the counter rows it wrote do, through the cascade: the purge
// cannot delete the project's row under the import's tasks, and the next
// purge takes them too. No task is left without its project.
func TestPurgeWaitsForAnOpenImport(t *testing.T) {
	cfg := preparePostgres(t, sqlstore.Config{})
	db := open(t, cfg)
	ctx := t.Context()
	p := createProject(t, db, "going")
	// Every counter row the import writes exists, as in a project with
	// imports on every connection before: the import updates them, which
	// locks nothing of the project's row.
	for _, q := range []string{
		"INSERT INTO project_counters (project_id, shard) SELECT $1, s FROM generate_series(0, 63) s ON CONFLICT DO NOTHING",
		`INSERT INTO task_counts (project_id, is_labeled, total_annotations, cancelled_annotations, total_predictions, shard, tasks)
			SELECT $1, FALSE, 0, 0, 0, s, 0 FROM generate_series(0, 63) s ON CONFLICT DO NOTHING`,
	} {
		if _, err := db.SQL().ExecContext(ctx, q, p.ID); err != nil {
			t.Fatal(err)
		}
	}
	arm, held, release := holdImport(t, db)
	arm(p.ID)
	imported := make(chan error, 1)
	go func() {
		_, err := db.ImportTasks(ctx, p.ID, manyTasks(150))
		imported <- err
	}()
	<-held
	if err := db.DeleteProject(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	purged := make(chan error, 1)
	go func() {
		for {
			done, err := db.PurgeProject(ctx, p.ID, 1000)
			if err != nil || done {
				purged <- err
				return
			}
		}
	}()
	// Let the import commit only once the purge waits for a lock.
	for waiting := false; !waiting; {
		select {
		case err := <-purged:
			t.Fatalf("the purge ended (%v) with an import still open in the project", err)
		default:
		}
		if err := db.SQL().QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND query LIKE 'DELETE FROM projects%')`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	release()
	if err := <-imported; err != nil {
		t.Fatalf("the import: %v", err)
	}
	if err := <-purged; err == nil {
		t.Fatal("the purge deleted the project's row under the import's tasks")
	}
	for done := false; !done; {
		var err error
		if done, err = db.PurgeProject(ctx, p.ID, 1000); err != nil {
			t.Fatal(err)
		}
	}
	var orphans int
	if err := db.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM tasks WHERE project_id = $1", p.ID).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 {
		t.Fatalf("%d tasks left without their project", orphans)
	}
}

// manyTasks is n tasks, task("0") … task(n-1).
func manyTasks(n int) []*blobmark.TaskImport {
	out := make([]*blobmark.TaskImport, n)
	for i := range out {
		out[i] = task(strconv.Itoa(i))
	}
	return out
}
