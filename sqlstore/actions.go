package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"

	"github.com/blobmark/blobmark"
)

// TaskActions runs the Data Manager's actions on selections of tasks.
type TaskActions struct {
	*core
}

// actionBatch is how many tasks one transaction of an action handles: big
// enough that a million-task selection is a thousand transactions, small
// enough that none holds SQLite's single writer for long.
const actionBatch = 1000

// taskAction applies an action to one batch of a project's tasks in tx.
type taskAction func(ctx context.Context, tx *Tx, projectID int64, ids []int64) error

// taskActions are the actions, by their ids in blobmark.TaskActions.
var taskActions = map[string]taskAction{
	blobmark.ActionDeleteTasks:            deleteTasks,
	blobmark.ActionDeleteTasksAnnotations: deleteTasksAnnotations,
	blobmark.ActionDeleteTasksPredictions: deleteTasksPredictions,
	blobmark.ActionDeleteGroundTruths:     deleteGroundTruths,
}

// RunTaskAction applies action to the tasks of the project that q selects,
// in id order, a batch per transaction. The selection's ids are checked
// first: one that is not a task of the project refuses the whole request.
func (db *TaskActions) RunTaskAction(ctx context.Context, projectID int64, action string, q *blobmark.TaskQuery) (int, error) {
	run := taskActions[action]
	if run == nil {
		return 0, blobmark.FieldErrorf("id", "%q is not an action; use one of %s.", action, actionList())
	}
	var one int
	err := db.queryRow(ctx, "SELECT 1 FROM projects WHERE id = ? AND deleted_at IS NULL", projectID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, notFound("project")
	} else if err != nil {
		return 0, translate("run action", err)
	}
	if q == nil || q.Selected == nil || q.Selected.IsEmpty() {
		return 0, nil // Label Studio acts on a selection only
	}
	if err := db.checkSelection(ctx, projectID, q.Selected); err != nil {
		return 0, err
	}
	q = &blobmark.TaskQuery{Conjunction: q.Conjunction, Filters: q.Filters, Selected: q.Selected}
	where, _, err := db.dialect.compileQuery(q)
	if err != nil {
		return 0, err
	}
	processed := 0
	var after int64
	for {
		var ids []int64
		batch := func(tx *Tx) error {
			var err error
			if ids, err = tx.selectBatch(ctx, projectID, where, after); err != nil || len(ids) == 0 {
				return err
			}
			return run(ctx, tx, projectID, ids)
		}
		// A batch updates many tasks, one statement each where it acts as
		// the single writes do, so beside concurrent annotation saves on
		// PostgreSQL it can deadlock on the task counts (migration 00021)
		// and be aborted. Each batch selects its tasks afresh: run again,
		// it does the same work.
		err := db.inTx(ctx, "run action "+action, batch)
		for retries := 0; retries < actionBatchRetries && lostToAConcurrentWriter(err); retries++ {
			err = db.inTx(ctx, "run action "+action, batch)
		}
		if err != nil {
			return processed, err
		}
		if len(ids) == 0 {
			return processed, nil
		}
		processed += len(ids)
		after = ids[len(ids)-1]
	}
}

// actionBatchRetries is how many times a batch of an action aborted for a
// concurrent writer's sake runs again before the action fails.
const actionBatchRetries = 3

func actionList() string {
	ids := make([]string, len(blobmark.TaskActions))
	for i, a := range blobmark.TaskActions {
		ids[i] = a.ID
	}
	return strings.Join(ids, ", ")
}

// checkSelection refuses a selection that names a task of another project
// (or none): nothing is done then.
func (db *TaskActions) checkSelection(ctx context.Context, projectID int64, s *blobmark.SelectedItems) error {
	for _, list := range []struct {
		field string
		ids   []int64
	}{{"selectedItems.included", s.Included}, {"selectedItems.excluded", s.Excluded}} {
		if len(list.ids) == 0 {
			continue
		}
		ids := slices.Compact(slices.Sorted(slices.Values(list.ids)))
		in := db.dialect.idsIn("t.id", ids, false)
		var n int
		if err := db.queryRow(ctx, "SELECT COUNT(*) FROM tasks t WHERE t.project_id = ? AND "+in.sql,
			append([]any{projectID}, in.args...)...).Scan(&n); err != nil {
			return translate("check selection", err)
		}
		if n != len(ids) {
			return blobmark.FieldErrorf(list.field, "%d of the %d task ids are not tasks of project %d.", len(ids)-n, len(ids), projectID)
		}
	}
	return nil
}

// selectBatch returns the ids of the next batch of selected tasks after
// the task id after.
func (tx *Tx) selectBatch(ctx context.Context, projectID int64, where sqlPart, after int64) ([]int64, error) {
	args := append(append([]any{projectID}, where.args...), after, actionBatch)
	rows, err := tx.query(ctx, "SELECT t.id FROM tasks t WHERE t.project_id = ? AND "+where.sql+
		" AND t.id > ? ORDER BY t.id LIMIT ?", args...)
	if err != nil {
		return nil, err
	}
	return scanIDs(rows)
}

// scanIDs reads a column of ids and closes rows.
func scanIDs(rows resultRows) ([]int64, error) {
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// deleteTasks deletes the tasks as DeleteTask does, in one statement.
func deleteTasks(ctx context.Context, tx *Tx, projectID int64, ids []int64) error {
	in := tx.db.dialect.idsIn("id", ids, false)
	rows, err := tx.query(ctx, "DELETE FROM tasks WHERE "+in.sql+" RETURNING id, total_annotations, total_predictions", in.args...)
	if err != nil {
		return err
	}
	var deleted []deletedTask
	for rows.Next() {
		var d deletedTask
		if err := rows.Scan(&d.id, &d.annotations, &d.predictions); err != nil {
			rows.Close()
			return err
		}
		deleted = append(deleted, d)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return tx.tasksDeleted(ctx, projectID, deleted)
}

// deleteTasksAnnotations deletes every annotation of the tasks, each as
// DeleteAnnotation does.
func deleteTasksAnnotations(ctx context.Context, tx *Tx, projectID int64, ids []int64) error {
	in := tx.db.dialect.idsIn("task_id", ids, false)
	rows, err := tx.query(ctx, "SELECT id FROM annotations WHERE "+in.sql+" ORDER BY id", in.args...)
	if err != nil {
		return err
	}
	annotations, err := scanIDs(rows)
	if err != nil {
		return err
	}
	for _, id := range annotations {
		if err := tx.deleteAnnotation(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// deleteTasksPredictions deletes every prediction of the tasks and takes
// them off the counters. Predictions are neither exported nor announced
// by webhooks, so no hook runs.
func deleteTasksPredictions(ctx context.Context, tx *Tx, projectID int64, ids []int64) error {
	in := tx.db.dialect.idsIn("id", ids, false)
	var removed int
	if err := tx.queryRow(ctx, "SELECT COALESCE(SUM(total_predictions), 0) FROM tasks WHERE "+in.sql, in.args...).Scan(&removed); err != nil {
		return err
	}
	if removed == 0 {
		return nil
	}
	byTask := tx.db.dialect.idsIn("task_id", ids, false)
	if _, err := tx.exec(ctx, "DELETE FROM predictions WHERE "+byTask.sql, byTask.args...); err != nil {
		return err
	}
	if _, err := tx.exec(ctx, "UPDATE tasks SET total_predictions = 0 WHERE total_predictions > 0 AND "+in.sql, in.args...); err != nil {
		return err
	}
	return tx.addCounts(ctx, projectID, counts{predictions: -removed})
}

// deleteGroundTruths takes the ground truth mark off the tasks'
// annotations; each changed annotation is an update, as a PATCH of
// ground_truth would be, so its exports are rewritten.
func deleteGroundTruths(ctx context.Context, tx *Tx, projectID int64, ids []int64) error {
	in := tx.db.dialect.idsIn("task_id", ids, false)
	rows, err := tx.query(ctx, "UPDATE annotations SET ground_truth = ?, updated_at = ? WHERE ground_truth AND "+in.sql+
		" RETURNING id, task_id", append([]any{false, tx.db.timestamp()}, in.args...)...)
	if err != nil {
		return err
	}
	type changed struct{ id, task int64 }
	var list []changed
	for rows.Next() {
		var c changed
		if err := rows.Scan(&c.id, &c.task); err != nil {
			rows.Close()
			return err
		}
		list = append(list, c)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range list {
		if err := tx.fire(ctx, Event{Kind: AnnotationUpdated, ProjectID: projectID, TaskID: c.task, AnnotationID: c.id}); err != nil {
			return err
		}
	}
	return nil
}
