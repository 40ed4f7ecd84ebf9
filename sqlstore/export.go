package sqlstore

// This file is the store as the exporter reads it: annotations, tasks,
// predictions, users and projects together, and the export links. It reads
// across aggregates, so it hangs off DB, which holds them all.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"sync/atomic"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/exporter"
)

// ExportStore is the store as the exporter sees it: the exporter.Source of
// annotations and the exporter.Recorder of export links.
type ExportStore struct{ db *DB }

// ExportStore returns the store's exporter.Source and exporter.Recorder.
func (db *DB) ExportStore() ExportStore { return ExportStore{db: db} }

// FindAnnotationByID returns an annotation as it is now.
func (s ExportStore) FindAnnotationByID(ctx context.Context, id int64) (*blobmark.Annotation, error) {
	return s.db.FindAnnotationByID(ctx, id)
}

// FindTaskByID returns a task.
func (s ExportStore) FindTaskByID(ctx context.Context, id int64) (*blobmark.Task, error) {
	return s.db.FindTaskByID(ctx, id)
}

// FindAnnotations returns a task's annotations; none when the task is gone,
// which is what the exporter expects of a task deleted during an export.
func (s ExportStore) FindAnnotations(ctx context.Context, taskID int64) ([]*blobmark.Annotation, error) {
	list, err := s.db.FindAnnotations(ctx, taskID)
	if blobmark.ErrorCode(err) == blobmark.ENOTFOUND {
		return nil, nil
	}
	return list, err
}

// FindPredictions returns a task's predictions in id order.
func (s ExportStore) FindPredictions(ctx context.Context, taskID int64) ([]*blobmark.Prediction, error) {
	return s.db.findPredictions(ctx, "p.task_id = ?", taskID)
}

// FindUserByID returns a user.
func (s ExportStore) FindUserByID(ctx context.Context, id int64) (*blobmark.User, error) {
	return s.db.FindUserByID(ctx, id)
}

// FindProjectByID returns a project.
func (s ExportStore) FindProjectByID(ctx context.Context, id int64) (*blobmark.Project, error) {
	return s.db.FindProjectByID(ctx, id)
}

// FindAnnotationsToExport returns a page of the annotations a sync exports.
func (s ExportStore) FindAnnotationsToExport(ctx context.Context, q exporter.ExportQuery) ([]exporter.AnnotationRef, error) {
	query := "SELECT a.id, a.task_id" + liveAnnotation + "WHERE a.project_id = ? AND a.id > ?"
	args := []any{q.ProjectID, q.AfterID}
	if q.OnlyNew {
		query += ` AND NOT EXISTS (SELECT 1 FROM export_links l WHERE l.storage_id = ? AND l.annotation_id = a.id
			AND l.source_updated_at >= a.updated_at)`
		args = append(args, q.StorageID)
	}
	rows, err := s.db.query(ctx, query+" ORDER BY a.id LIMIT ?", append(args, q.Limit)...)
	if err != nil {
		return nil, translate("find annotations to export", err)
	}
	defer rows.Close()
	var out []exporter.AnnotationRef
	for rows.Next() {
		var r exporter.AnnotationRef
		if err := rows.Scan(&r.ID, &r.TaskID); err != nil {
			return nil, translate("find annotations to export", err)
		}
		out = append(out, r)
	}
	return out, translate("find annotations to export", rows.Err())
}

// FindTasksToExport returns a page of the tasks a task-mode sync exports.
func (s ExportStore) FindTasksToExport(ctx context.Context, q exporter.ExportQuery) ([]int64, error) {
	query := "SELECT t.id" + liveTask + "WHERE t.project_id = ? AND t.id > ? AND "
	args := []any{q.ProjectID, q.AfterID}
	if q.OnlyNew {
		query += `(t.total_annotations + t.cancelled_annotations > 0
				OR EXISTS (SELECT 1 FROM export_links l WHERE l.storage_id = ? AND l.task_id = t.id AND l.annotation_id = 0))
			AND NOT EXISTS (SELECT 1 FROM export_links l WHERE l.storage_id = ? AND l.task_id = t.id AND l.annotation_id = 0
				AND l.annotation_count = t.total_annotations + t.cancelled_annotations
				AND l.source_updated_at >= COALESCE((SELECT MAX(a.updated_at) FROM annotations a WHERE a.task_id = t.id), l.source_updated_at))`
		args = append(args, q.StorageID, q.StorageID)
	} else {
		query += "t.total_annotations + t.cancelled_annotations > 0"
	}
	rows, err := s.db.query(ctx, query+" ORDER BY t.id LIMIT ?", append(args, q.Limit)...)
	if err != nil {
		return nil, translate("find tasks to export", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, translate("find tasks to export", err)
		}
		out = append(out, id)
	}
	return out, translate("find tasks to export", rows.Err())
}

const exportLinkColumns = `storage_id, object_key, annotation_id, task_id, etag, content_hash, source_updated_at,
	annotation_count, exported_at`

// FindExportLink returns the link of key, ENOTFOUND when there is none.
func (s ExportStore) FindExportLink(ctx context.Context, storageID int64, key string) (*exporter.ExportLink, error) {
	return s.findLink(ctx, "storage_id = ? AND object_key = ?", storageID, key)
}

// findLink returns the first link where selects, ENOTFOUND when none does.
func (s ExportStore) findLink(ctx context.Context, where string, args ...any) (*exporter.ExportLink, error) {
	l, err := scanExportLink(s.db.queryRow(ctx, "SELECT "+exportLinkColumns+" FROM export_links WHERE "+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("export link")
	}
	return l, translate("find export link", err)
}

// scanExportLink reads one row of exportLinkColumns.
func scanExportLink(row interface{ Scan(...any) error }) (*exporter.ExportLink, error) {
	var l exporter.ExportLink
	var src, at timeValue
	if err := row.Scan(&l.StorageID, &l.Key, &l.AnnotationID, &l.TaskID, &l.ETag, &l.ContentHash, &src, &l.AnnotationCount, &at); err != nil {
		return nil, err
	}
	l.SourceUpdatedAt, l.ExportedAt = src.Time, at.Time
	return &l, nil
}

// RecordExport creates or replaces the link of (link.StorageID, link.Key).
// A storage deleted meanwhile has no links to keep, so that is not an error.
func (s ExportStore) RecordExport(ctx context.Context, link *exporter.ExportLink) error {
	_, err := s.db.write.ExecContext(ctx, s.db.rebind(`INSERT INTO export_links (`+exportLinkColumns+`)
		SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM target_storages WHERE id = ?)
		ON CONFLICT (storage_id, object_key) DO UPDATE SET annotation_id = excluded.annotation_id, task_id = excluded.task_id,
		etag = excluded.etag, content_hash = excluded.content_hash, source_updated_at = excluded.source_updated_at,
		annotation_count = excluded.annotation_count, exported_at = excluded.exported_at`),
		link.StorageID, link.Key, link.AnnotationID, link.TaskID, link.ETag, link.ContentHash,
		link.SourceUpdatedAt.UTC(), link.AnnotationCount, link.ExportedAt.UTC().Truncate(time.Microsecond), link.StorageID)
	return translate("record export", err)
}

// DeleteExportLink removes the link of key; no link is not an error.
func (s ExportStore) DeleteExportLink(ctx context.Context, storageID int64, key string) error {
	_, err := s.db.write.ExecContext(ctx, s.db.rebind("DELETE FROM export_links WHERE storage_id = ? AND object_key = ?"), storageID, key)
	return translate("delete export link", err)
}

// FindExportLinkOf returns the latest link of an annotation, or of a
// task's file when annotationID is 0.
func (s ExportStore) FindExportLinkOf(ctx context.Context, storageID, annotationID, taskID int64) (*exporter.ExportLink, error) {
	if annotationID != 0 {
		return s.findLink(ctx, "storage_id = ? AND annotation_id = ? ORDER BY exported_at DESC LIMIT 1", storageID, annotationID)
	}
	return s.findLink(ctx, "storage_id = ? AND annotation_id = 0 AND task_id = ? ORDER BY exported_at DESC LIMIT 1", storageID, taskID)
}

// FindExportLinks returns a storage's links in key order, so tests can see
// what was written where; the exporter itself looks links up one key at a
// time (FindExportLink).
func (s ExportStore) FindExportLinks(ctx context.Context, storageID int64) ([]exporter.ExportLink, error) {
	rows, err := s.db.query(ctx, "SELECT "+exportLinkColumns+" FROM export_links WHERE storage_id = ? ORDER BY object_key", storageID)
	if err != nil {
		return nil, translate("find export links", err)
	}
	defer rows.Close()
	var out []exporter.ExportLink
	for rows.Next() {
		l, err := scanExportLink(rows)
		if err != nil {
			return nil, translate("find export links", err)
		}
		out = append(out, *l)
	}
	return out, translate("find export links", rows.Err())
}

// findPredictions returns predictions matching where (over alias p), in
// task and id order.
func (db *core) findPredictions(ctx context.Context, where string, args ...any) ([]*blobmark.Prediction, error) {
	rows, err := db.query(ctx, `SELECT p.id, p.task_id, p.project_id, p.result, p.score, p.model_version, p.created_at, p.updated_at
		FROM predictions p WHERE `+where+" ORDER BY p.task_id, p.id", args...)
	if err != nil {
		return nil, translate("find predictions", err)
	}
	defer rows.Close()
	var out []*blobmark.Prediction
	for rows.Next() {
		var p blobmark.Prediction
		var result string
		var score sql.NullFloat64
		var created, updated timeValue
		if err := rows.Scan(&p.ID, &p.TaskID, &p.ProjectID, &result, &score, &p.ModelVersion, &created, &updated); err != nil {
			return nil, translate("find predictions", err)
		}
		p.Result = json.RawMessage(result)
		if score.Valid {
			p.Score = &score.Float64
		}
		p.CreatedAt, p.UpdatedAt = created.Time, updated.Time
		out = append(out, &p)
	}
	return out, translate("find predictions", rows.Err())
}

// exportPageSize is how many tasks one page of a project export holds.
const exportPageSize = 1000

// ExportProject streams the project's export in format to w.
func (db *DB) ExportProject(ctx context.Context, projectID int64, format string, filter blobmark.ExportFilter, w io.Writer) error {
	p, err := db.FindProjectByID(ctx, projectID)
	if err != nil {
		return err
	}
	cfg, _ := blobmark.ParseLabelConfig(p.LabelConfig)
	pager, err := db.newTaskPager(ctx, projectID, filter)
	if err != nil {
		return err
	}
	pages, stop := exporter.ReadAhead(ctx, pager)
	defer stop()
	return exporter.WriteProject(ctx, w, format, cfg, pages)
}

// taskPager walks a project's tasks by id (keyset pagination), loading each
// page's annotations, predictions and annotators in one query each, and
// counts what it returned.
type taskPager struct {
	db        *DB
	projectID int64
	// where and args are the filter's conditions on tasks t; annotations
	// those on annotations a.
	where       sqlPart
	annotations sqlPart
	afterID     int64
	// next brings the tasks of the page after the one NextPage returned
	// last, read while that page's annotations were; nil before the first.
	next chan pageTasks
	// tasks and annotations count what the pages held so far; atomic, as
	// the pages are read ahead of the goroutine that reports progress.
	tasks, annotationCount atomic.Int64
}

// pageTasks is a page with its tasks read, or why it could not be.
type pageTasks struct {
	page *exporter.TaskPage
	err  error
}

// newTaskPager compiles filter, reading the Data Manager view it names;
// a view that is gone or belongs to another project is an EINVALID
// error on task_filter_options.view.
func (db *DB) newTaskPager(ctx context.Context, projectID int64, filter blobmark.ExportFilter) (*taskPager, error) {
	conds := []sqlPart{{sql: "t.project_id = ?", args: []any{projectID}}}
	if !filter.AllTasks {
		// A task's counters count all its annotations, cancelled or not.
		// Read from its row, the condition leaves a page one walk of the
		// project's id index; a semi-join with the annotations walked their
		// index from the project's first task on every page.
		conds = append(conds, sqlPart{sql: "t.total_annotations + t.cancelled_annotations > 0"})
	}
	if len(filter.IDs) > 0 {
		conds = append(conds, db.dialect.idsIn("t.id", filter.IDs, false))
	}
	for _, f := range []struct{ mode, only string }{
		{filter.Annotated, "t.total_annotations > 0"},
		{filter.Finished, "t.is_labeled"},
		{filter.Skipped, "t.cancelled_annotations > 0"},
	} {
		switch f.mode {
		case "only":
			conds = append(conds, sqlPart{sql: f.only})
		case "exclude":
			conds = append(conds, sqlPart{sql: "NOT (" + f.only + ")"})
		}
	}
	if filter.View != 0 {
		v, err := db.FindViewByID(ctx, filter.View)
		if err != nil && blobmark.ErrorCode(err) != blobmark.ENOTFOUND {
			return nil, err
		}
		if err != nil || v.ProjectID != projectID {
			return nil, blobmark.FieldErrorf("task_filter_options", "View %d is not a view of this project.", filter.View)
		}
		q, err := blobmark.ViewQuery(v.Data)
		if err != nil {
			return nil, err
		}
		where, _, err := db.dialect.compileQuery(q)
		if err != nil {
			return nil, err
		}
		conds = append(conds, where)
	}
	kinds := map[string]string{
		"usual":        "(NOT a.was_cancelled AND NOT a.ground_truth)",
		"ground_truth": "a.ground_truth",
		"skipped":      "a.was_cancelled",
	}
	var anns []sqlPart
	for _, k := range filter.AnnotationKinds {
		anns = append(anns, sqlPart{sql: kinds[k]})
	}
	tp := &taskPager{db: db, projectID: projectID, where: joinParts(conds, " AND "), annotations: sqlPart{sql: "TRUE"}}
	if len(anns) > 0 {
		tp.annotations = joinParts(anns, " OR ")
	}
	return tp, nil
}

// NextPage returns the next page of tasks. Its annotations, predictions
// and users are read while the tasks of the page after it are, on another
// connection: on PostgreSQL each is a round trip, which would otherwise
// follow one another.
func (tp *taskPager) NextPage(ctx context.Context) (*exporter.TaskPage, error) {
	var r pageTasks
	if tp.next == nil {
		r.page, r.err = tp.readTasks(ctx)
	} else {
		r = <-tp.next
	}
	if r.err != nil {
		return nil, r.err
	}
	tp.next = make(chan pageTasks, 1)
	go func(next chan<- pageTasks) {
		page, err := tp.readTasks(ctx)
		next <- pageTasks{page, err}
	}(tp.next)
	tp.tasks.Add(int64(len(r.page.Tasks)))
	if err := tp.readDetails(ctx, r.page); err != nil {
		return nil, err
	}
	return r.page, nil
}

// readTasks reads the tasks of the page after afterID, and moves afterID
// past them; io.EOF after the last.
func (tp *taskPager) readTasks(ctx context.Context) (*exporter.TaskPage, error) {
	db := tp.db
	args := append(slices.Clone(tp.where.args), tp.afterID, exportPageSize)
	rows, err := db.query(ctx, "SELECT "+taskColumns+" FROM tasks t WHERE "+tp.where.sql+" AND t.id > ? ORDER BY t.id LIMIT ?", args...)
	if err != nil {
		return nil, translate("export tasks", err)
	}
	defer rows.Close()
	page := &exporter.TaskPage{Users: map[int64]*blobmark.User{}}
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, translate("export tasks", err)
		}
		page.Tasks = append(page.Tasks, exporter.TaskBundle{Task: t, Annotations: []*blobmark.Annotation{}})
	}
	if err := rows.Err(); err != nil {
		return nil, translate("export tasks", err)
	}
	if len(page.Tasks) == 0 {
		return nil, io.EOF
	}
	tp.afterID = page.Tasks[len(page.Tasks)-1].Task.ID
	return page, nil
}

// readDetails reads the annotations, predictions and annotators of the
// tasks of page.
func (tp *taskPager) readDetails(ctx context.Context, page *exporter.TaskPage) error {
	db := tp.db
	index := make(map[int64]int, len(page.Tasks))
	ids := make([]int64, len(page.Tasks))
	for i, b := range page.Tasks {
		index[b.Task.ID], ids[i] = i, b.Task.ID
	}
	// The page's rows are looked up by task id, the exact list: a
	// condition on the project would let the planner walk the project's
	// index instead, a cost that grows with the project on every page.
	annTasks, predTasks := db.dialect.idsIn("a.task_id", ids, false), db.dialect.idsIn("p.task_id", ids, false)
	arows, err := db.query(ctx, "SELECT "+annotationColumns+` FROM annotations a
		WHERE `+annTasks.sql+` AND (`+tp.annotations.sql+`) ORDER BY a.task_id, a.id`, append(annTasks.args, tp.annotations.args...)...)
	if err != nil {
		return translate("export annotations", err)
	}
	var userIDs []int64
	for arows.Next() {
		a, err := scanAnnotation(arows)
		if err != nil {
			arows.Close()
			return translate("export annotations", err)
		}
		i := index[a.TaskID]
		page.Tasks[i].Annotations = append(page.Tasks[i].Annotations, a)
		tp.annotationCount.Add(1)
		if a.CompletedBy != 0 {
			userIDs = append(userIDs, a.CompletedBy)
		}
	}
	arows.Close()
	if err := arows.Err(); err != nil {
		return translate("export annotations", err)
	}
	preds, err := db.findPredictions(ctx, predTasks.sql, predTasks.args...)
	if err != nil {
		return err
	}
	for _, p := range preds {
		i := index[p.TaskID]
		page.Tasks[i].Predictions = append(page.Tasks[i].Predictions, p)
	}
	slices.Sort(userIDs)
	for _, id := range slices.Compact(userIDs) {
		u, err := db.FindUserByID(ctx, id)
		if blobmark.ErrorCode(err) == blobmark.ENOTFOUND {
			continue
		} else if err != nil {
			return err
		}
		page.Users[id] = u
	}
	return nil
}
