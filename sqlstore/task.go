package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/blobmark/blobmark"
)

// Tasks holds the tasks of projects: importing them in bulk, finding, updating and deleting them.
type Tasks struct {
	*core
}

const taskColumns = `t.id, t.project_id, t.data, t.meta, t.is_labeled, t.total_annotations, t.cancelled_annotations,
	t.total_predictions, t.inner_id, t.created_at, t.updated_at,
	EXISTS (SELECT 1 FROM source_storage_links l WHERE l.task_id = t.id AND l.missing),
	COALESCE(` + storageFilenameExpr + `, '')`

// liveTask joins a task to its project so that tasks of a deleted project
// are hidden at once, before the purge job removes them.
const liveTask = " FROM tasks t JOIN projects p ON p.id = t.project_id AND p.deleted_at IS NULL "

func scanTask(row interface{ Scan(...any) error }) (*blobmark.Task, error) {
	var t blobmark.Task
	var data, meta string
	var created, updated timeValue
	err := row.Scan(&t.ID, &t.ProjectID, &data, &meta, &t.IsLabeled, &t.TotalAnnotations, &t.CancelledAnnotations,
		&t.TotalPredictions, &t.InnerID, &created, &updated, &t.BlobMissing, &t.StorageFilename)
	if err != nil {
		return nil, err
	}
	t.Data, t.Meta = json.RawMessage(data), json.RawMessage(meta)
	t.CreatedAt, t.UpdatedAt = created.Time, updated.Time
	return &t, nil
}

// jsonObject checks that raw is one JSON object, which is what Label Studio
// accepts as task data and meta. Empty means def.
func jsonObject(field string, raw json.RawMessage, def string) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return def, nil
	}
	if raw[0] != '{' || !json.Valid(raw) {
		return "", blobmark.FieldErrorf(field, "Must be a JSON object.")
	}
	return string(raw), nil
}

// jsonValue checks that raw is valid JSON (a region list, usually). Empty
// means def.
func jsonValue(field string, raw json.RawMessage, def string) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return def, nil
	}
	if !json.Valid(raw) {
		return "", blobmark.FieldErrorf(field, "Must be valid JSON.")
	}
	return string(raw), nil
}

// FindTaskByID returns a task of a live project.
func (db *Tasks) FindTaskByID(ctx context.Context, id int64) (*blobmark.Task, error) {
	t, err := scanTask(db.queryRow(ctx, "SELECT "+taskColumns+liveTask+"WHERE t.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("task")
	}
	return t, translate("find task", err)
}

// FindTasks returns a page of a project's tasks in the order of f.Query
// (id order without one). Without a filter the totals are the counters
// kept on the project row; with one they are counted over the tasks it
// selects, in the same WHERE as the page.
func (db *Tasks) FindTasks(ctx context.Context, f blobmark.TaskFilter) (*blobmark.TaskList, error) {
	limit, offset := pageBounds(f.Page)
	list := &blobmark.TaskList{Tasks: []*blobmark.Task{}}
	var withAnnotations int
	err := db.queryRow(ctx, `SELECT `+projectCountsSQL+` FROM projects p WHERE id = ? AND deleted_at IS NULL`, f.ProjectID).
		Scan(&list.Total, &list.TotalAnnotations, &list.TotalPredictions, &withAnnotations)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("project")
	} else if err != nil {
		return nil, translate("find tasks", err)
	}
	where, order, err := db.dialect.compileQuery(f.Query)
	if err != nil {
		return nil, err
	}
	if f.Query.IsFiltered() {
		count, err := db.countTasksSQL(ctx, f.Query, where)
		if err != nil {
			return nil, err
		}
		err = db.queryRow(ctx, count, append([]any{f.ProjectID}, where.args...)...).
			Scan(&list.Total, &list.TotalAnnotations, &list.TotalPredictions)
		if err != nil {
			return nil, translate("count tasks", err)
		}
	}
	args := append(append(append([]any{f.ProjectID}, where.args...), order.args...), limit, offset)
	rows, err := db.query(ctx, pageTasksSQL(where, order), args...)
	if err != nil {
		return nil, translate("find tasks", err)
	}
	defer rows.Close()
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, translate("find tasks", err)
		}
		list.Tasks = append(list.Tasks, t)
	}
	if err := rows.Err(); err != nil {
		return nil, translate("find tasks", err)
	}
	return list, nil
}

// countTasksSQL totals the tasks of a project (the first argument) that
// where, compiled from q, selects: their number and their annotation and
// prediction counts. On PostgreSQL a total that reads nothing of a task
// but what a kept summary holds is counted over that summary instead, for
// counting over the tasks costs about a microsecond a match even from an
// index alone:
//   - a filter on the counters alone (migration 00021) sums the tasks of
//     each matching combination of counters, a few rows;
//   - a filter on one data field, besides the task's id and counters, is
//     counted over that field's kept values (migration 00019) once they
//     are filled in: an index-only scan, where the tasks' own expression
//     index would visit every matching task.
func (db *core) countTasksSQL(ctx context.Context, q *blobmark.TaskQuery, where sqlPart) (string, error) {
	if db.dialect == Postgres {
		if over, ok := overSummary(where.sql, countsColumns); ok {
			return `SELECT COALESCE(SUM(c.tasks), 0), COALESCE(SUM(c.tasks * c.total_annotations), 0), COALESCE(SUM(c.tasks * c.total_predictions), 0)
				FROM task_counts c WHERE c.project_id = ? AND ` + over, nil
		}
		if keys := q.FilterKeys(); len(keys) == 1 {
			if over, ok := overSummary(strings.ReplaceAll(where.sql, Postgres.rawData(keys[0]), "(f.value)"), fieldValueColumns); ok {
				var field int64
				err := db.queryRow(ctx, "SELECT id FROM data_fields WHERE key = ? AND ready", keys[0]).Scan(&field)
				switch {
				case err == nil:
					return fmt.Sprintf(`SELECT COUNT(*), COALESCE(SUM(f.total_annotations), 0), COALESCE(SUM(f.total_predictions), 0)
						FROM task_field_values f WHERE f.field_id = %d AND f.project_id = ? AND %s`, field, over), nil
				case !errors.Is(err, sql.ErrNoRows):
					return "", translate("count tasks", err)
				}
			}
		}
	}
	return `SELECT COUNT(*), COALESCE(SUM(t.total_annotations), 0), COALESCE(SUM(t.total_predictions), 0)
		FROM tasks t WHERE t.project_id = ? AND ` + where.sql, nil
}

// taskColumnRef is a reference to a column of "tasks t".
var taskColumnRef = regexp.MustCompile(`\bt\.([a-z_]+)\b`)

// The columns of the tasks' summaries, by the reference to the task's
// column each stands for.
var (
	countsColumns = map[string]string{"t.is_labeled": "c.is_labeled", "t.total_annotations": "c.total_annotations",
		"t.cancelled_annotations": "c.cancelled_annotations", "t.total_predictions": "c.total_predictions"}
	fieldValueColumns = map[string]string{"t.id": "f.task_id", "t.total_annotations": "f.total_annotations",
		"t.total_predictions": "f.total_predictions"}
)

// overSummary rewrites a condition over "tasks t" onto a summary of the
// tasks, replacing each reference to a column by the summary's column in
// columns. A reference to any other column of the task makes it not ok.
func overSummary(cond string, columns map[string]string) (string, bool) {
	ok := true
	cond = taskColumnRef.ReplaceAllStringFunc(cond, func(ref string) string {
		if c, found := columns[ref]; found {
			return c
		}
		ok = false
		return ref
	})
	return cond, ok
}

// pageTasksSQL reads a page (the last two arguments: limit, offset) of the
// tasks of a project (the first) that where selects, in order.
func pageTasksSQL(where, order sqlPart) string {
	return "SELECT " + taskColumns + " FROM tasks t WHERE t.project_id = ? AND " + where.sql +
		" ORDER BY " + order.sql + " LIMIT ? OFFSET ?"
}

// UpdateTask replaces a task's data and/or meta.
func (db *Tasks) UpdateTask(ctx context.Context, id int64, upd blobmark.TaskUpdate) (*blobmark.Task, error) {
	var out *blobmark.Task
	err := db.inTx(ctx, "update task", func(tx *Tx) error {
		t, err := scanTask(tx.queryRow(ctx, "SELECT "+taskColumns+liveTask+"WHERE t.id = ?", id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("task")
		} else if err != nil {
			return err
		}
		if upd.Data != nil {
			data, err := jsonObject("data", upd.Data, "")
			if err != nil {
				return err
			} else if data == "" {
				return blobmark.FieldErrorf("data", "This field may not be empty.")
			}
			t.Data = json.RawMessage(data)
		}
		if upd.Meta != nil {
			meta, err := jsonObject("meta", upd.Meta, "{}")
			if err != nil {
				return err
			}
			t.Meta = json.RawMessage(meta)
		}
		t.UpdatedAt = db.timestamp()
		if _, err := tx.exec(ctx, "UPDATE tasks SET data = ?, meta = ?, updated_at = ? WHERE id = ?",
			string(t.Data), string(t.Meta), t.UpdatedAt, id); err != nil {
			return err
		}
		out = t
		return tx.fire(ctx, Event{Kind: TaskUpdated, ProjectID: t.ProjectID, TaskID: id})
	})
	return out, err
}

// DeleteTask deletes a task with its annotations and predictions (by
// cascade) and takes its counts off the project's counters.
func (db *Tasks) DeleteTask(ctx context.Context, id int64) error {
	return db.inTx(ctx, "delete task", func(tx *Tx) error {
		var d deletedTask
		var projectID int64
		err := tx.queryRow(ctx, `DELETE FROM tasks WHERE id = ?
			AND project_id IN (SELECT id FROM projects WHERE deleted_at IS NULL)
			RETURNING id, project_id, total_annotations, total_predictions`, id).Scan(&d.id, &projectID, &d.annotations, &d.predictions)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("task")
		} else if err != nil {
			return err
		}
		return tx.tasksDeleted(ctx, projectID, []deletedTask{d})
	})
}

// deletedTask is what a deleted task's row said about its counts.
type deletedTask struct {
	id                       int64
	annotations, predictions int
}

// tasksDeleted finishes the deletion of tasks of one project, single or in
// bulk: it takes their counts off the project's counters and fires
// TaskDeleted for each, whose hooks enqueue the exports' deletions.
func (tx *Tx) tasksDeleted(ctx context.Context, projectID int64, tasks []deletedTask) error {
	var annotations, predictions, withAnnotations int
	for _, d := range tasks {
		annotations += d.annotations
		predictions += d.predictions
		withAnnotations += boolInt(d.annotations > 0)
	}
	if err := tx.addCounts(ctx, projectID, counts{-len(tasks), -annotations, -predictions, -withAnnotations}); err != nil {
		return err
	}
	for _, d := range tasks {
		if err := tx.fire(ctx, Event{Kind: TaskDeleted, ProjectID: projectID, TaskID: d.id}); err != nil {
			return err
		}
	}
	return nil
}
