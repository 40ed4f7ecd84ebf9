package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/blobmark/blobmark"
)

// Annotations holds the annotations of tasks; every write fires the hooks that enqueue exports and webhooks.
type Annotations struct {
	*core
}

const annotationColumns = `a.id, a.task_id, a.project_id, a.result, a.was_cancelled, a.ground_truth, a.lead_time,
	a.completed_by, a.created_at, a.updated_at`

// liveAnnotation hides annotations of deleted projects, like liveTask.
const liveAnnotation = " FROM annotations a JOIN projects p ON p.id = a.project_id AND p.deleted_at IS NULL "

func scanAnnotation(row interface{ Scan(...any) error }) (*blobmark.Annotation, error) {
	var a blobmark.Annotation
	var result string
	var completedBy sql.NullInt64
	var created, updated timeValue
	err := row.Scan(&a.ID, &a.TaskID, &a.ProjectID, &result, &a.WasCancelled, &a.GroundTruth, &a.LeadTime,
		&completedBy, &created, &updated)
	if err != nil {
		return nil, err
	}
	a.Result = json.RawMessage(result)
	a.CompletedBy = completedBy.Int64
	a.CreatedAt, a.UpdatedAt = created.Time, updated.Time
	return &a, nil
}

// CreateAnnotation stores a on its task and updates the task's and the
// project's counters in the same transaction.
func (db *Annotations) CreateAnnotation(ctx context.Context, a *blobmark.Annotation) error {
	result, err := jsonValue("result", a.Result, "[]")
	if err != nil {
		return err
	}
	if a.CompletedBy == 0 {
		a.CompletedBy = blobmark.UserIDFromContext(ctx)
	}
	now := db.timestamp()
	dTotal, dCancelled := annotationCount(a.WasCancelled, +1)
	return db.inTx(ctx, "create annotation", func(tx *Tx) error {
		// The annotation, its task's counters and the end of the
		// annotator's hold on the task (a submit or a skip ends it) go
		// together, in one round trip on PostgreSQL.
		var projectID, countedIn int64
		var total int
		err := tx.pipeline(ctx,
			pipedQuery{q: `INSERT INTO annotations (task_id, project_id, result, was_cancelled, ground_truth,
				lead_time, completed_by, created_at, updated_at) SELECT t.id, t.project_id, ?, ?, ?, ?, ?, ?, ?` + liveTask + `WHERE t.id = ?
				RETURNING id, project_id`,
				args: []any{result, a.WasCancelled, a.GroundTruth, a.LeadTime, nullID(a.CompletedBy), now, now, a.TaskID},
				scan: func(r resultRow) error { return r.Scan(&a.ID, &projectID) }},
			tx.taskAnnotationCounts(a.TaskID, dTotal, dCancelled, &countedIn, &total),
			pipedQuery{q: unlockTaskSQL, args: []any{a.TaskID, a.CompletedBy}})
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("task")
		} else if err != nil {
			return err
		}
		a.ProjectID, a.Result, a.CreatedAt, a.UpdatedAt = projectID, json.RawMessage(result), now, now
		if err := tx.projectAnnotationCounts(ctx, projectID, total, dTotal); err != nil {
			return err
		}
		return tx.fire(ctx, Event{Kind: AnnotationCreated, ProjectID: projectID, TaskID: a.TaskID, AnnotationID: a.ID})
	})
}

// annotationCount is how one annotation counts on its task, added (sign
// +1) or removed (sign -1): a cancelled annotation in cancelled_annotations
// only, the others in total_annotations, as in Label Studio.
func annotationCount(cancelled bool, sign int) (dTotal, dCancelled int) {
	if cancelled {
		return 0, sign
	}
	return sign, 0
}

// countAnnotations changes a task's annotation counters by dTotal and
// dCancelled, its is_labeled to follow blobmark.Project.TaskIsLabeled, and
// the project's counters.
func (tx *Tx) countAnnotations(ctx context.Context, taskID int64, dTotal, dCancelled int) error {
	var projectID int64
	var total int
	if err := tx.pipeline(ctx, tx.taskAnnotationCounts(taskID, dTotal, dCancelled, &projectID, &total)); err != nil {
		return err
	}
	return tx.projectAnnotationCounts(ctx, projectID, total, dTotal)
}

// taskAnnotationCounts is the statement that changes a task's annotation
// counters by dTotal and dCancelled and its is_labeled to follow them; it
// reads the task's project and the total it wrote into projectID and
// total, which projectAnnotationCounts takes. The UPDATE … RETURNING reads
// the counters it wrote, so concurrent writers on PostgreSQL cannot lose an
// update.
//
// It is one statement, so one run of the task_counts trigger (migration
// 00021), which locks the rows it writes in key order: two transactions
// that each updated a task twice could lock them in opposite orders, and
// deadlock when their connections share a shard.
func (tx *Tx) taskAnnotationCounts(taskID int64, dTotal, dCancelled int, projectID *int64, total *int) pipedQuery {
	return pipedQuery{q: `UPDATE tasks SET total_annotations = total_annotations + ?,
		cancelled_annotations = cancelled_annotations + ?,
		is_labeled = ` + isLabeledWith("total_annotations + ?", "cancelled_annotations + ?") + `,
		updated_at = ? WHERE id = ? RETURNING project_id, total_annotations`,
		args: []any{dTotal, dCancelled, dTotal, dCancelled, tx.db.timestamp(), taskID},
		scan: func(r resultRow) error { return r.Scan(projectID, total) }}
}

// projectAnnotationCounts changes the project's counters after its task's
// total of annotations changed by dTotal to total.
func (tx *Tx) projectAnnotationCounts(ctx context.Context, projectID int64, total, dTotal int) error {
	dWith := boolInt(total > 0) - boolInt(total-dTotal > 0)
	if dTotal == 0 && dWith == 0 {
		return nil
	}
	return tx.addCounts(ctx, projectID, counts{annotations: dTotal, withAnnotations: dWith})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// FindAnnotationByID returns an annotation of a live project.
func (db *Annotations) FindAnnotationByID(ctx context.Context, id int64) (*blobmark.Annotation, error) {
	a, err := scanAnnotation(db.queryRow(ctx, "SELECT "+annotationColumns+liveAnnotation+"WHERE a.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("annotation")
	}
	return a, translate("find annotation", err)
}

// FindAnnotations returns a task's annotations in id order; ENOTFOUND when
// the task does not exist, so an empty list always means a real task.
func (db *Annotations) FindAnnotations(ctx context.Context, taskID int64) ([]*blobmark.Annotation, error) {
	var one int
	err := db.queryRow(ctx, "SELECT 1"+liveTask+"WHERE t.id = ?", taskID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("task")
	} else if err != nil {
		return nil, translate("find annotations", err)
	}
	rows, err := db.query(ctx, "SELECT "+annotationColumns+" FROM annotations a WHERE a.task_id = ? ORDER BY a.id", taskID)
	if err != nil {
		return nil, translate("find annotations", err)
	}
	defer rows.Close()
	list := []*blobmark.Annotation{}
	for rows.Next() {
		a, err := scanAnnotation(rows)
		if err != nil {
			return nil, translate("find annotations", err)
		}
		list = append(list, a)
	}
	if err := rows.Err(); err != nil {
		return nil, translate("find annotations", err)
	}
	return list, nil
}

// UpdateAnnotation applies upd; a change of was_cancelled moves the
// annotation between its task's counters.
func (db *Annotations) UpdateAnnotation(ctx context.Context, id int64, upd blobmark.AnnotationUpdate) (*blobmark.Annotation, error) {
	var result string
	if upd.Result != nil {
		var err error
		if result, err = jsonValue("result", upd.Result, "[]"); err != nil {
			return nil, err
		}
	}
	var out *blobmark.Annotation
	err := db.inTx(ctx, "update annotation", func(tx *Tx) error {
		a, err := scanAnnotation(tx.queryRow(ctx, "SELECT "+annotationColumns+liveAnnotation+"WHERE a.id = ?", id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("annotation")
		} else if err != nil {
			return err
		}
		wasCancelled := a.WasCancelled
		if upd.Result != nil {
			a.Result = json.RawMessage(result)
		}
		set(&a.WasCancelled, upd.WasCancelled)
		set(&a.GroundTruth, upd.GroundTruth)
		set(&a.LeadTime, upd.LeadTime)
		a.UpdatedAt = db.timestamp()
		if _, err := tx.exec(ctx, `UPDATE annotations SET result = ?, was_cancelled = ?, ground_truth = ?, lead_time = ?,
			updated_at = ? WHERE id = ?`, string(a.Result), a.WasCancelled, a.GroundTruth, a.LeadTime, a.UpdatedAt, id); err != nil {
			return err
		}
		if a.WasCancelled != wasCancelled {
			offTotal, offCancelled := annotationCount(wasCancelled, -1)
			onTotal, onCancelled := annotationCount(a.WasCancelled, +1)
			if err := tx.countAnnotations(ctx, a.TaskID, offTotal+onTotal, offCancelled+onCancelled); err != nil {
				return err
			}
		}
		out = a
		return tx.fire(ctx, Event{Kind: AnnotationUpdated, ProjectID: a.ProjectID, TaskID: a.TaskID, AnnotationID: id})
	})
	return out, err
}

// DeleteAnnotation deletes an annotation and takes it off its task's and
// project's counters.
func (db *Annotations) DeleteAnnotation(ctx context.Context, id int64) error {
	return db.inTx(ctx, "delete annotation", func(tx *Tx) error {
		return tx.deleteAnnotation(ctx, id)
	})
}

// deleteAnnotation deletes one annotation in tx, single or as part of a
// bulk action: counters, exports and webhooks follow through fire.
func (tx *Tx) deleteAnnotation(ctx context.Context, id int64) error {
	var taskID, projectID int64
	var cancelled bool
	err := tx.queryRow(ctx, `DELETE FROM annotations WHERE id = ?
		AND project_id IN (SELECT id FROM projects WHERE deleted_at IS NULL)
		RETURNING task_id, project_id, was_cancelled`, id).Scan(&taskID, &projectID, &cancelled)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("annotation")
	} else if err != nil {
		return err
	}
	dTotal, dCancelled := annotationCount(cancelled, -1)
	if err := tx.countAnnotations(ctx, taskID, dTotal, dCancelled); err != nil {
		return err
	}
	return tx.fire(ctx, Event{Kind: AnnotationDeleted, ProjectID: projectID, TaskID: taskID, AnnotationID: id})
}
