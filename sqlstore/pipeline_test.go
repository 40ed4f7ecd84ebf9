package sqlstore_test

import (
	"encoding/json"
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/sqlstore"
)

// TestAnnotationOnAGoneProjectLeavesNothing: an annotation's save sends
// its task's counters with it (one round trip on PostgreSQL), so when the
// task's project is being deleted the counters were already changed and
// must roll back with the refused annotation.
func TestAnnotationOnAGoneProjectLeavesNothing(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			db := open(t, b.prepare(t, sqlstore.Config{}))
			ctx := t.Context()
			live, gone := createProject(t, db, "live"), createProject(t, db, "gone")
			var ids []int64
			for _, p := range []*blobmark.Project{live, gone} {
				res, err := db.ImportTasks(ctx, p.ID, manyTasks(1))
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, res.TaskIDs[0])
			}
			if err := db.DeleteProject(ctx, gone.ID); err != nil { // its tasks stay until the purge job
				t.Fatal(err)
			}
			for i, want := range []int{1, 0} {
				err := db.CreateAnnotation(ctx, &blobmark.Annotation{TaskID: ids[i], Result: json.RawMessage(`[]`)})
				if want == 1 && err != nil || want == 0 && blobmark.ErrorCode(err) != blobmark.ENOTFOUND {
					t.Fatalf("annotation on task %d: %v", i, err)
				}
				var total, annotations int
				var labeled bool
				row := db.SQL().QueryRowContext(ctx, db.Rebind(`SELECT total_annotations, is_labeled,
					(SELECT COUNT(*) FROM annotations WHERE task_id = ?) FROM tasks WHERE id = ?`), ids[i], ids[i])
				if err := row.Scan(&total, &labeled, &annotations); err != nil {
					t.Fatal(err)
				}
				if total != want || labeled != (want == 1) || annotations != want {
					t.Errorf("task %d: total_annotations %d, is_labeled %v, %d annotations; want %d", i, total, labeled, annotations, want)
				}
			}
		})
	}
}
