package sqlstore

// This file stores target ("export") storages and their export links, and
// enqueues an export job for every annotation write in the write's own
// transaction. It imports exporter, a pure-domain package (no I/O of its
// own), to implement the exporter's Source and Recorder interfaces on the
// store rather than through a layer of adapters.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/exporter"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Interface checks.
var (
	_ blobmark.TargetStorageService = (*DB)(nil)
	_ blobmark.ProjectExporter      = (*DB)(nil)
	_ exporter.Source               = ExportStore{}
	_ exporter.Recorder             = ExportStore{}
)

const targetStorageColumns = `id, project_id, type, title, description, container, prefix, can_delete_objects,
	export_format, file_extension, connection, secrets, ` + stateColumns + `, created_at, updated_at`

// scanTargetStorage reads one row of targetStorageColumns, opening its
// secrets only withSecrets.
func (db *DB) scanTargetStorage(row interface{ Scan(...any) error }, withSecrets bool) (*blobmark.TargetStorage, error) {
	var s blobmark.TargetStorage
	var fileExt sql.NullBool
	var conn, sealed string
	var st stateScan
	var created, updated timeValue
	dest := []any{&s.ID, &s.ProjectID, &s.Type, &s.Title, &s.Description, &s.Container, &s.Prefix,
		&s.CanDeleteObjects, &s.ExportFormat, &fileExt, &conn, &sealed}
	dest = append(append(dest, st.dest()...), &created, &updated, &s.Organization)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	if fileExt.Valid {
		s.FileExtension = &fileExt.Bool
	}
	var err error
	if s.Connection, err = parseConnection(conn); err != nil {
		return nil, err
	}
	if withSecrets {
		if s.Secrets, err = db.openSecrets(sealed); err != nil {
			return nil, err
		}
	}
	s.State = st.state()
	s.CreatedAt, s.UpdatedAt = created.Time, updated.Time
	return &s, nil
}

func normalizeTargetStorage(s *blobmark.TargetStorage) error {
	if s.ExportFormat == "" {
		s.ExportFormat = string(exporter.FormatAnnotation)
	}
	if !exporter.Format(s.ExportFormat).Valid() {
		return blobmark.FieldErrorf("export_format", "%q is not a valid choice; use %q or %q.", s.ExportFormat, exporter.FormatAnnotation, exporter.FormatTask)
	}
	if !slices.Contains(blobmark.TargetStorageTypes, s.Type) {
		return blobmark.FieldErrorf("type", "unknown storage type %q", s.Type)
	}
	if s.Connection == nil {
		s.Connection = blobmark.Connection{}
	}
	return nil
}

// CreateTargetStorage stores s and, with initialSync, queues the export of
// the project's existing annotations in the same transaction.
func (db *DB) CreateTargetStorage(ctx context.Context, s *blobmark.TargetStorage, initialSync bool) error {
	if err := normalizeTargetStorage(s); err != nil {
		return err
	}
	conn, err := connectionJSON(s.Connection)
	if err != nil {
		return wrapInternal("encode storage connection", err)
	}
	sealed, err := db.sealSecrets(s.Secrets)
	if err != nil {
		return err
	}
	now := db.timestamp()
	return db.inTx(ctx, "create target storage", func(tx *Tx) error {
		var one int
		err := tx.queryRow(ctx, "SELECT 1 FROM projects WHERE id = ? AND deleted_at IS NULL", s.ProjectID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return blobmark.FieldErrorf("project", "Invalid pk \"%d\" - object does not exist.", s.ProjectID)
		} else if err != nil {
			return err
		}
		err = tx.queryRow(ctx, `INSERT INTO target_storages (project_id, type, title, description, container, prefix,
			can_delete_objects, export_format, file_extension, connection, secrets, status, meta, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', ?, ?) RETURNING id`,
			s.ProjectID, s.Type, s.Title, s.Description, s.Container, s.Prefix, s.CanDeleteObjects, s.ExportFormat,
			nullBool(s.FileExtension), conn, sealed, blobmark.StatusInitialized, now, now).Scan(&s.ID)
		if err != nil {
			return err
		}
		s.State = blobmark.StorageState{Status: blobmark.StatusInitialized, Meta: json.RawMessage("{}")}
		s.CreatedAt, s.UpdatedAt = now, now
		if initialSync {
			return tx.queueExportSync(ctx, s, false)
		}
		return nil
	})
}

func nullBool(b *bool) sql.NullBool {
	if b == nil {
		return sql.NullBool{}
	}
	return sql.NullBool{Bool: *b, Valid: true}
}

// queueExportSync enqueues an ExportSyncJob and marks the storage queued.
func (tx *Tx) queueExportSync(ctx context.Context, s *blobmark.TargetStorage, onlyNew bool) error {
	res, err := tx.db.river.InsertTx(ctx, tx.tx, blobmark.ExportSyncJob{StorageID: s.ID, OnlyNew: onlyNew}, &river.InsertOpts{
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: pendingStates},
	})
	if err != nil {
		return wrapInternal("enqueue export sync", err)
	}
	if res.UniqueSkippedAsDuplicate && res.Job.State == rivertype.JobStateRunning {
		// The running sync may already be past annotations written since,
		// or be finishing: queue another one behind it. (A waiting one
		// absorbs the request.)
		if res, err = tx.db.river.InsertTx(ctx, tx.tx, blobmark.ExportSyncJob{StorageID: s.ID, OnlyNew: onlyNew}, nil); err != nil {
			return wrapInternal("enqueue export sync", err)
		}
	}
	jobID := strconv.FormatInt(res.Job.ID, 10)
	if _, err := tx.exec(ctx, `UPDATE target_storages SET status = ?, last_sync_job = ?, traceback = NULL WHERE id = ?`,
		blobmark.StatusQueued, jobID, s.ID); err != nil {
		return err
	}
	s.State.Status, s.State.LastSyncJob, s.State.Traceback = blobmark.StatusQueued, &jobID, nil
	return nil
}

// pendingStates are the job states in which an export job has not yet read
// the state it exports, plus running, which River requires in every unique
// set (see exportAnnotationHook for how a running duplicate is handled).
// Completed jobs are left out so that every new write gets a new job.
var pendingStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateScheduled, rivertype.JobStateRetryable,
}

// FindTargetStorageByID returns a storage, its secrets left sealed.
func (db *DB) FindTargetStorageByID(ctx context.Context, id int64) (*blobmark.TargetStorage, error) {
	return db.findTargetStorage(ctx, id, false)
}

// FindTargetStorageWithSecrets returns a storage with its secrets opened.
func (db *DB) FindTargetStorageWithSecrets(ctx context.Context, id int64) (*blobmark.TargetStorage, error) {
	return db.findTargetStorage(ctx, id, true)
}

func (db *DB) findTargetStorage(ctx context.Context, id int64, withSecrets bool) (*blobmark.TargetStorage, error) {
	s, err := db.scanTargetStorage(db.queryRow(ctx, "SELECT "+targetStorageColumns+", "+organizationColumn("target_storages")+
		" FROM target_storages WHERE id = ? AND project_id IN (SELECT id FROM projects WHERE deleted_at IS NULL)", id), withSecrets)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("storage")
	}
	return s, translate("find target storage", err)
}

// FindTargetStorages returns the storages f selects, in id order, their
// secrets left sealed.
func (db *DB) FindTargetStorages(ctx context.Context, f blobmark.TargetStorageFilter) ([]*blobmark.TargetStorage, error) {
	q := "SELECT " + targetStorageColumns + ", " + organizationColumn("target_storages") + " FROM target_storages WHERE project_id IN (SELECT id FROM projects WHERE deleted_at IS NULL)"
	var args []any
	if f.ProjectID != 0 {
		q += " AND project_id = ?"
		args = append(args, f.ProjectID)
	}
	if f.Type != "" {
		q += " AND type = ?"
		args = append(args, f.Type)
	}
	rows, err := db.query(ctx, q+" ORDER BY id", args...)
	if err != nil {
		return nil, translate("find target storages", err)
	}
	defer rows.Close()
	list := []*blobmark.TargetStorage{}
	for rows.Next() {
		s, err := db.scanTargetStorage(rows, false)
		if err != nil {
			return nil, translate("find target storages", err)
		}
		list = append(list, s)
	}
	return list, translate("find target storages", rows.Err())
}

// UpdateTargetStorage replaces a storage's settings. Exports already
// written keep their names; later exports use the new prefix and format.
func (db *DB) UpdateTargetStorage(ctx context.Context, s *blobmark.TargetStorage) (*blobmark.TargetStorage, error) {
	if err := normalizeTargetStorage(s); err != nil {
		return nil, err
	}
	conn, err := connectionJSON(s.Connection)
	if err != nil {
		return nil, wrapInternal("encode storage connection", err)
	}
	sealed, err := db.sealSecrets(s.Secrets)
	if err != nil {
		return nil, err
	}
	res, err := db.write.ExecContext(ctx, db.Rebind(`UPDATE target_storages SET title = ?, description = ?, container = ?,
		prefix = ?, can_delete_objects = ?, export_format = ?, file_extension = ?, connection = ?, secrets = ?, updated_at = ?
		WHERE id = ?`), s.Title, s.Description, s.Container, s.Prefix, s.CanDeleteObjects, s.ExportFormat,
		nullBool(s.FileExtension), conn, sealed, db.timestamp(), s.ID)
	if err != nil {
		return nil, translate("update target storage", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, notFound("storage")
	}
	return db.FindTargetStorageByID(ctx, s.ID)
}

// DeleteTargetStorage deletes a storage and its links.
func (db *DB) DeleteTargetStorage(ctx context.Context, id int64) error {
	return db.inTx(ctx, "delete target storage", func(tx *Tx) error {
		if _, err := tx.exec(ctx, "DELETE FROM export_links WHERE storage_id = ?", id); err != nil {
			return err
		}
		res, err := tx.exec(ctx, "DELETE FROM target_storages WHERE id = ?", id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("storage")
		}
		return nil
	})
}

// SyncTargetStorage queues a sync of the storage.
func (db *DB) SyncTargetStorage(ctx context.Context, id int64, onlyNew bool) (*blobmark.TargetStorage, error) {
	s, err := db.FindTargetStorageByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := db.inTx(ctx, "sync target storage", func(tx *Tx) error { return tx.queueExportSync(ctx, s, onlyNew) }); err != nil {
		return nil, err
	}
	return db.FindTargetStorageByID(ctx, id)
}

// SetTargetStorageState records a storage's sync status, as the export jobs
// report it. A missing storage (deleted meanwhile) is not an error. With
// st.LastSyncJob set, the state is written only while that job is the
// storage's latest sync, so a sync finishing after a newer one was queued
// does not hide the newer one's "queued".
func (db *DB) SetTargetStorageState(ctx context.Context, id int64, st blobmark.StorageState) error {
	meta := st.Meta
	if len(meta) == 0 {
		meta = json.RawMessage("{}")
	}
	var lastSync any
	if st.LastSync != nil {
		lastSync = st.LastSync.UTC().Truncate(time.Microsecond)
	}
	var count any
	if st.LastSyncCount != nil {
		count = *st.LastSyncCount
	}
	q := `UPDATE target_storages SET status = ?, last_sync = ?, last_sync_count = ?, traceback = ?, meta = ? WHERE id = ?`
	args := []any{st.Status, lastSync, count, st.Traceback, string(meta), id}
	if st.LastSyncJob != nil {
		q += " AND (last_sync_job IS NULL OR last_sync_job = ?)"
		args = append(args, *st.LastSyncJob)
	}
	return db.inTx(ctx, "set target storage state", func(tx *Tx) error {
		res, err := tx.exec(ctx, q, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 || st.Status != blobmark.StatusFailed {
			return nil
		}
		msg := ""
		if st.Traceback != nil {
			msg = *st.Traceback
		}
		return tx.exportFailedWebhook(ctx, id, msg)
	})
}

// FailTargetStorage marks a storage failed with a message its users can
// act on, keeping the rest of its state.
func (db *DB) FailTargetStorage(ctx context.Context, id int64, message string) error {
	return db.inTx(ctx, "fail target storage", func(tx *Tx) error {
		if _, err := tx.exec(ctx, `UPDATE target_storages SET status = ?, traceback = ? WHERE id = ?`,
			blobmark.StatusFailed, message, id); err != nil {
			return err
		}
		return tx.exportFailedWebhook(ctx, id, message)
	})
}

// exportAnnotationHook enqueues, in the transaction of every annotation
// write (and task deletion), an ExportAnnotationJob for each target storage
// of the project that exporter.Wants one, so an annotation is never saved
// without the job that exports it.
//
// Jobs are unique per storage and annotation while they wait, so a burst of
// saves collapses into one export of the latest state. River's unique set
// always includes running jobs, though, and a job that already read the
// state would miss this write: when the duplicate found is running, a
// second, non-unique job is added, which exports after it.
func exportAnnotationHook(ctx context.Context, tx *Tx, ev Event) error {
	if ev.Kind == TaskDeleted {
		return exportTaskDeletion(ctx, tx, ev)
	}
	change := exporter.Saved
	switch ev.Kind {
	case AnnotationCreated, AnnotationUpdated:
	case AnnotationDeleted:
		change = exporter.Deleted
	default:
		return nil
	}
	rows, err := tx.query(ctx, "SELECT id, export_format, can_delete_objects FROM target_storages WHERE project_id = ?", ev.ProjectID)
	if err != nil {
		return err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		var format string
		var canDelete bool
		if err := rows.Scan(&id, &format, &canDelete); err != nil {
			rows.Close()
			return err
		}
		if !exporter.Wants(exporter.Format(format), canDelete, change) {
			continue
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		if err := tx.insertExportJob(ctx, blobmark.ExportAnnotationJob{StorageID: id, AnnotationID: ev.AnnotationID, TaskID: ev.TaskID}); err != nil {
			return err
		}
	}
	return nil
}

// insertExportJob enqueues args unless an equal job waits already; when the
// equal job is running, it adds a second one (see exportAnnotationHook).
func (tx *Tx) insertExportJob(ctx context.Context, args blobmark.ExportAnnotationJob) error {
	res, err := tx.db.river.InsertTx(ctx, tx.tx, args, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: pendingStates}})
	if err != nil {
		return wrapInternal("enqueue export", err)
	}
	if res.UniqueSkippedAsDuplicate && res.Job != nil && res.Job.State == rivertype.JobStateRunning {
		if _, err := tx.db.river.InsertTx(ctx, tx.tx, args, nil); err != nil {
			return wrapInternal("enqueue export", err)
		}
	}
	return nil
}

// exportTaskDeletion removes what storages that may delete objects had
// exported of a deleted task: its annotations went with it, without events
// of their own, so one job per object the export links name is enqueued;
// each finds its annotation (or task) gone and deletes the object.
func exportTaskDeletion(ctx context.Context, tx *Tx, ev Event) error {
	rows, err := tx.query(ctx, `SELECT l.storage_id, l.annotation_id FROM export_links l
		JOIN target_storages s ON s.id = l.storage_id
		WHERE s.project_id = ? AND s.can_delete_objects AND l.task_id = ?`, ev.ProjectID, ev.TaskID)
	if err != nil {
		return err
	}
	var jobs []blobmark.ExportAnnotationJob
	for rows.Next() {
		j := blobmark.ExportAnnotationJob{TaskID: ev.TaskID}
		if err := rows.Scan(&j.StorageID, &j.AnnotationID); err != nil {
			rows.Close()
			return err
		}
		jobs = append(jobs, j)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, j := range jobs {
		if err := tx.insertExportJob(ctx, j); err != nil {
			return err
		}
	}
	return nil
}

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
	var l exporter.ExportLink
	var src, at timeValue
	err := s.db.queryRow(ctx, "SELECT "+exportLinkColumns+" FROM export_links WHERE storage_id = ? AND object_key = ?", storageID, key).
		Scan(&l.StorageID, &l.Key, &l.AnnotationID, &l.TaskID, &l.ETag, &l.ContentHash, &src, &l.AnnotationCount, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("export link")
	} else if err != nil {
		return nil, translate("find export link", err)
	}
	l.SourceUpdatedAt, l.ExportedAt = src.Time, at.Time
	return &l, nil
}

// RecordExport creates or replaces the link of (link.StorageID, link.Key).
// A storage deleted meanwhile has no links to keep, so that is not an error.
func (s ExportStore) RecordExport(ctx context.Context, link *exporter.ExportLink) error {
	_, err := s.db.write.ExecContext(ctx, s.db.Rebind(`INSERT INTO export_links (`+exportLinkColumns+`)
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
	_, err := s.db.write.ExecContext(ctx, s.db.Rebind("DELETE FROM export_links WHERE storage_id = ? AND object_key = ?"), storageID, key)
	return translate("delete export link", err)
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
		var l exporter.ExportLink
		var src, at timeValue
		if err := rows.Scan(&l.StorageID, &l.Key, &l.AnnotationID, &l.TaskID, &l.ETag, &l.ContentHash, &src, &l.AnnotationCount, &at); err != nil {
			return nil, translate("find export links", err)
		}
		l.SourceUpdatedAt, l.ExportedAt = src.Time, at.Time
		out = append(out, l)
	}
	return out, translate("find export links", rows.Err())
}

// findPredictions returns predictions matching where (over alias p), in
// task and id order.
func (db *DB) findPredictions(ctx context.Context, where string, args ...any) ([]*blobmark.Prediction, error) {
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
const exportPageSize = 200

// ExportProjectJSON streams the project's Label Studio JSON export to w.
func (db *DB) ExportProjectJSON(ctx context.Context, projectID int64, w io.Writer) error {
	p, err := db.FindProjectByID(ctx, projectID)
	if err != nil {
		return err
	}
	cfg, _ := blobmark.ParseLabelConfig(p.LabelConfig)
	return exporter.WriteProjectJSON(ctx, w, cfg, &taskPager{db: db, projectID: projectID})
}

// taskPager walks a project's tasks by id (keyset pagination), loading each
// page's annotations, predictions and annotators in one query each.
type taskPager struct {
	db        *DB
	projectID int64
	afterID   int64
}

// NextPage returns the next page of tasks.
func (tp *taskPager) NextPage(ctx context.Context) (*exporter.TaskPage, error) {
	db := tp.db
	rows, err := db.query(ctx, "SELECT "+taskColumns+" FROM tasks t WHERE t.project_id = ? AND t.id > ? ORDER BY t.id LIMIT ?",
		tp.projectID, tp.afterID, exportPageSize)
	if err != nil {
		return nil, translate("export tasks", err)
	}
	page := &exporter.TaskPage{Users: map[int64]*blobmark.User{}}
	index := map[int64]int{}
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			rows.Close()
			return nil, translate("export tasks", err)
		}
		index[t.ID] = len(page.Tasks)
		page.Tasks = append(page.Tasks, exporter.TaskBundle{Task: t, Annotations: []*blobmark.Annotation{}})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, translate("export tasks", err)
	}
	if len(page.Tasks) == 0 {
		return nil, io.EOF
	}
	first, last := page.Tasks[0].Task.ID, page.Tasks[len(page.Tasks)-1].Task.ID
	tp.afterID = last

	arows, err := db.query(ctx, "SELECT "+annotationColumns+` FROM annotations a
		WHERE a.project_id = ? AND a.task_id >= ? AND a.task_id <= ? ORDER BY a.task_id, a.id`, tp.projectID, first, last)
	if err != nil {
		return nil, translate("export annotations", err)
	}
	var userIDs []int64
	for arows.Next() {
		a, err := scanAnnotation(arows)
		if err != nil {
			arows.Close()
			return nil, translate("export annotations", err)
		}
		if i, ok := index[a.TaskID]; ok {
			page.Tasks[i].Annotations = append(page.Tasks[i].Annotations, a)
		}
		if a.CompletedBy != 0 {
			userIDs = append(userIDs, a.CompletedBy)
		}
	}
	arows.Close()
	if err := arows.Err(); err != nil {
		return nil, translate("export annotations", err)
	}
	preds, err := db.findPredictions(ctx, "p.project_id = ? AND p.task_id >= ? AND p.task_id <= ?", tp.projectID, first, last)
	if err != nil {
		return nil, err
	}
	for _, p := range preds {
		if i, ok := index[p.TaskID]; ok {
			page.Tasks[i].Predictions = append(page.Tasks[i].Predictions, p)
		}
	}
	slices.Sort(userIDs)
	for _, id := range slices.Compact(userIDs) {
		u, err := db.FindUserByID(ctx, id)
		if blobmark.ErrorCode(err) == blobmark.ENOTFOUND {
			continue
		} else if err != nil {
			return nil, err
		}
		page.Users[id] = u
	}
	return page, nil
}
