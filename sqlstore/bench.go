package sqlstore

import (
	"context"
	"database/sql"
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
		return tx.recount(ctx, projectID)
	})
}

// recount sets a project's counters to what its task rows say, for the
// benchmark writers above, which bypass them.
func (tx *Tx) recount(ctx context.Context, projectID int64) error {
	if _, err := tx.exec(ctx, "DELETE FROM project_counters WHERE project_id = ?", projectID); err != nil {
		return err
	}
	_, err := tx.exec(ctx, `INSERT INTO project_counters (project_id, shard, tasks, annotations, predictions, tasks_with_annotations)
		SELECT ?, 0, COUNT(*), COALESCE(SUM(total_annotations), 0), COALESCE(SUM(total_predictions), 0),
			COALESCE(SUM(CASE WHEN total_annotations > 0 THEN 1 ELSE 0 END), 0)
		FROM tasks WHERE project_id = ?`, projectID, projectID)
	return err
}

// BareAnnotateAll gives every task of a project one annotation with
// result, by nobody, in three statements, and sets the tasks' and the
// project's counters to match: for benchmarks and tests that need a large
// annotated project quickly. It fires no hooks (nothing is exported or
// sent), so use it on such data only.
func (db *Tasks) BareAnnotateAll(ctx context.Context, projectID int64, result string) error {
	now := time.Now().UTC()
	return db.inTx(ctx, "bare annotate all", func(tx *Tx) error {
		if _, err := tx.exec(ctx, `INSERT INTO annotations (task_id, project_id, result, was_cancelled, ground_truth,
			lead_time, created_at, updated_at) SELECT id, project_id, ?, ?, ?, ?, ?, ? FROM tasks WHERE project_id = ? ORDER BY id`,
			result, false, false, 0.0, now, now, projectID); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE tasks SET total_annotations = 1, is_labeled = ? WHERE project_id = ?`, true, projectID); err != nil {
			return err
		}
		return tx.recount(ctx, projectID)
	})
}

// BareStreamExportRows reads every task row of a project and every row of
// its annotations, with the columns a project export reads, in two plain
// ordered scans, and returns the bytes read. Nothing is decoded or
// encoded: it is the physical limit that export benchmarks divide by.
func (db *DB) BareStreamExportRows(ctx context.Context, projectID int64) (int64, error) {
	var total int64
	for _, q := range []string{
		"SELECT " + taskColumns + " FROM tasks t WHERE t.project_id = ? ORDER BY t.id",
		"SELECT " + annotationColumns + " FROM annotations a WHERE a.project_id = ? ORDER BY a.task_id, a.id",
	} {
		n, err := db.bareScan(ctx, q, projectID)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

func (db *DB) bareScan(ctx context.Context, query string, args ...any) (int64, error) {
	rows, err := db.query(ctx, query, args...)
	if err != nil {
		return 0, translate("bare scan", err)
	}
	defer rows.Close()
	var n int64
	if pr, ok := rows.(pgxRows); ok { // pgx hands out each row's bytes as they came
		for pr.Next() {
			for _, b := range pr.RawValues() {
				n += int64(len(b))
			}
		}
		return n, translate("bare scan", pr.Err())
	}
	sr := rows.(*sql.Rows)
	cols, err := sr.Columns()
	if err != nil {
		return 0, translate("bare scan", err)
	}
	raw := make([]sql.RawBytes, len(cols))
	dest := make([]any, len(cols))
	for i := range raw {
		dest[i] = &raw[i]
	}
	for sr.Next() {
		if err := sr.Scan(dest...); err != nil {
			return 0, translate("bare scan", err)
		}
		for _, b := range raw {
			n += int64(len(b))
		}
	}
	return n, translate("bare scan", sr.Err())
}
