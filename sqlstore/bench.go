package sqlstore

import (
	"context"
	"time"
)

// BareInsertTasks inserts one task row per element of data into project
// projectID with nothing but batched multi-row INSERTs in one transaction:
// the same rows, schema and statement size as ImportTasks, without
// validation, id read-back, counters or hooks. It is the physical limit that
// import benchmarks divide by, and it leaves the project's counters and
// inner-id sequence stale, so use it on benchmark data only. Inner ids start
// at firstInnerID and must not collide with the project's existing ones.
func (db *Tasks) BareInsertTasks(ctx context.Context, projectID, firstInnerID int64, data []string) error {
	now := time.Now().UTC()
	return db.inTx(ctx, "bare insert tasks", func(tx *Tx) error {
		return tx.bulkInsert(ctx, "tasks", taskImportColumns, "", len(data), func(i int, args []any) []any {
			return append(args, projectID, firstInnerID+int64(i), data[i], "{}", false, 0, 0, 0, now, now)
		}, nil)
	})
}

// BareSpreadCounts gives a project's tasks benchmark counters in one
// statement: total_annotations = id % annotations (is_labeled when above
// zero) and the project's counters, so Data Manager benchmarks filter
// and sort by counts without creating millions of annotations. Benchmark
// data only: no annotation rows back the counts.
func (db *Tasks) BareSpreadCounts(ctx context.Context, projectID int64, annotations int) error {
	return db.inTx(ctx, "bare spread counts", func(tx *Tx) error {
		if _, err := tx.exec(ctx, `UPDATE tasks SET total_annotations = id % ?, is_labeled = (id % ? > 0)
			WHERE project_id = ?`, annotations, annotations, projectID); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `UPDATE projects SET task_number = (SELECT COUNT(*) FROM tasks WHERE project_id = ?),
			total_annotations_number = (SELECT COALESCE(SUM(total_annotations), 0) FROM tasks WHERE project_id = ?),
			num_tasks_with_annotations = (SELECT COUNT(*) FROM tasks WHERE project_id = ? AND total_annotations > 0)
			WHERE id = ?`, projectID, projectID, projectID, projectID)
		return err
	})
}
