package sqlstore_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/sqlstore"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestActionBatchLostToADeadlockRunsAgain: a batch of a bulk action that
// PostgreSQL aborts for a concurrent writer's sake (here a hook answers
// with a deadlock) runs again and completes; one that keeps losing fails
// after its retries, "database busy", with nothing of it done.
func TestActionBatchLostToADeadlockRunsAgain(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			db := open(t, b.prepare(t, sqlstore.Config{}))
			ctx := t.Context()
			p := createProject(t, db, "actions")
			tasks := manyTasks(3)
			for _, task := range tasks {
				task.Annotations = []*blobmark.Annotation{{Result: json.RawMessage(`[]`)}}
			}
			if _, err := db.ImportTasks(ctx, p.ID, tasks); err != nil {
				t.Fatal(err)
			}
			var attempts, losses atomic.Int64
			sqlstore.PrependHook(db, func(ctx context.Context, tx *sqlstore.Tx, ev sqlstore.Event) error {
				if ev.Kind != sqlstore.AnnotationDeleted {
					return nil
				}
				if attempts.Add(1); losses.Add(-1) >= 0 {
					return &pgconn.PgError{Code: "40P01", Message: "deadlock detected"}
				}
				return nil
			})
			all, err := blobmark.ParseTaskQuery("body", []byte(`{"selectedItems":{"all":true,"excluded":[]}}`))
			if err != nil {
				t.Fatal(err)
			}
			annotations := func() int {
				got, err := db.FindProjectByID(ctx, p.ID)
				if err != nil {
					t.Fatal(err)
				}
				return got.TotalAnnotationsNumber
			}

			losses.Store(4) // the first run and its three retries
			if _, err := db.RunTaskAction(ctx, p.ID, blobmark.ActionDeleteTasksAnnotations, all); blobmark.ErrorCode(err) != blobmark.EUNAVAILABLE {
				t.Fatalf("an action whose batch always loses = %v, want unavailable", err)
			}
			if attempts.Load() != 4 || annotations() != 3 {
				t.Fatalf("%d attempts, %d annotations left; want 4 and 3", attempts.Load(), annotations())
			}

			attempts.Store(0)
			losses.Store(2)
			n, err := db.RunTaskAction(ctx, p.ID, blobmark.ActionDeleteTasksAnnotations, all)
			if err != nil || n != 3 {
				t.Fatalf("an action whose batch lost twice = %d, %v; want 3 tasks done", n, err)
			}
			if annotations() != 0 {
				t.Fatalf("%d annotations left", annotations())
			}
		})
	}
}
